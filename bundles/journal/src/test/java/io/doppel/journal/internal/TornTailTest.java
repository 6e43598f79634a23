package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.TailDamage;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Damaged tails: what is cut, what is reported, and that the journal goes on afterwards. */
class TornTailTest {

    private static final int DATA = 1000;
    private static final long RECORD = RecordFormat.recordBytes(DATA);
    private final SimulatedStorage storage = new SimulatedStorage();
    private final Path seg = Fixture.segment(0);

    /** Ten records of 1000 bytes, forced; the process then dies (files stay as written). */
    @BeforeEach
    void tenRecords() throws IOException {
        FileJournal j = Fixture.open(storage);
        for (int i = 1; i <= 10; i++) {
            j.append(RecordKind.WRITE, 1, i * 4096L, DATA, Fixture.data(i, DATA));
        }
        j.force(j.head());
    }

    private static long offsetOf(long seq) {
        return SegmentFormat.HEADER_BYTES + (seq - 1) * RECORD;
    }

    private TailDamage reopenExpectingDamage(long lastGood) throws IOException {
        FileJournal j = Fixture.open(storage);
        assertThat(j.head()).isEqualTo(new Position(1, lastGood));
        assertThat(j.durable()).isEqualTo(j.head());
        assertThat(j.recovery().tailDamage()).isPresent();
        TailDamage d = j.recovery().tailDamage().get();
        assertThat(d.lastGood()).isEqualTo(new Position(1, lastGood));
        assertThat(d.segment()).isEqualTo(seg.getFileName().toString());
        assertThat(d.fileOffset()).isEqualTo(offsetOf(lastGood + 1));
        assertThat(d.bytesCut()).isPositive();
        checkRecords(j, lastGood);

        // the journal goes on, and the cut stays cut
        Position next = j.append(RecordKind.WRITE, 2, 0, 300, Fixture.data(99, 300));
        assertThat(next).isEqualTo(new Position(1, lastGood + 1));
        j.force(next);
        FileJournal again = Fixture.open(storage);
        assertThat(again.recovery().tailDamage()).as("the cut region was zeroed").isEmpty();
        assertThat(again.head()).isEqualTo(next);
        List<JournalRecord> all = Fixture.readAll(again);
        assertThat(Fixture.bytes(all.get(all.size() - 1).data())).isEqualTo(Fixture.bytes(Fixture.data(99, 300)));
        return d;
    }

    private static void checkRecords(FileJournal j, long through) throws IOException {
        List<JournalRecord> all = Fixture.readAll(j);
        assertThat(all).hasSize((int) through);
        for (JournalRecord r : all) {
            assertThat(Fixture.bytes(r.data())).isEqualTo(Fixture.bytes(Fixture.data(r.seq(), DATA)));
        }
    }

    @Test
    void anUndamagedJournalReportsNoDamage() throws IOException {
        FileJournal j = Fixture.open(storage);
        assertThat(j.recovery().tailDamage()).isEmpty();
        assertThat(j.head()).isEqualTo(new Position(1, 10));
        assertThat(j.recovery().cleanShutdown()).isFalse();
        checkRecords(j, 10);
    }

    @Test
    void truncatedInTheMiddleOfTheLastRecordsData() throws IOException {
        storage.truncate(seg, offsetOf(10) + RecordFormat.HEADER_BYTES + 100);
        TailDamage d = reopenExpectingDamage(9);
        assertThat(d.reason()).contains("seq 10").contains("truncated");
        assertThat(d.intactAfterCut()).isZero();
    }

    @Test
    void truncatedInTheMiddleOfTheLastRecordsHeader() throws IOException {
        storage.truncate(seg, offsetOf(10) + 30);
        TailDamage d = reopenExpectingDamage(9);
        assertThat(d.reason()).contains("header truncated");
        assertThat(d.intactAfterCut()).isZero();
    }

    @Test
    void bitFlipInTheLastRecordsHeader() throws IOException {
        storage.flipBit(seg, offsetOf(10) + RecordFormat.OFF_OFFSET + 2, 3);
        TailDamage d = reopenExpectingDamage(9);
        assertThat(d.reason()).contains("header CRC32C mismatch");
        assertThat(d.intactAfterCut()).isZero();
    }

    @Test
    void bitFlipInTheLastRecordsData() throws IOException {
        storage.flipBit(seg, offsetOf(10) + RecordFormat.HEADER_BYTES + 500, 0);
        TailDamage d = reopenExpectingDamage(9);
        assertThat(d.reason()).isEqualTo("data CRC32C mismatch at seq 10");
        assertThat(d.intactAfterCut()).isZero();
        assertThat(d.bytesCut()).isEqualTo(RECORD);
    }

    @Test
    void bitFlipInAMiddleRecordDropsEverythingAfterIt() throws IOException {
        storage.flipBit(seg, offsetOf(5) + RecordFormat.HEADER_BYTES + 7, 6);
        TailDamage d = reopenExpectingDamage(4);
        assertThat(d.reason()).isEqualTo("data CRC32C mismatch at seq 5");
        assertThat(d.intactAfterCut()).as("records 6..10 were intact but come after the damage").isEqualTo(5);
        assertThat(d.bytesCut()).isEqualTo(6 * RECORD);
    }

    @Test
    void aMissingRecordFollowedByIntactOnesIsDamage() throws IOException {
        // seq 8 is zeros (a page that never reached the disk), 9 and 10 are there
        storage.overwrite(seg, offsetOf(8), new byte[(int) RECORD]);
        TailDamage d = reopenExpectingDamage(7);
        assertThat(d.reason()).contains("where seq 8 was expected");
        assertThat(d.intactAfterCut()).isEqualTo(2);
    }
}
