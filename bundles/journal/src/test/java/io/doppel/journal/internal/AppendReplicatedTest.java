package io.doppel.journal.internal;

import static io.doppel.journal.internal.Primary.assertSameRecord;
import static io.doppel.journal.internal.Primary.flush;
import static io.doppel.journal.internal.Primary.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.JournalFullException;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

/** A copy's journal takes records with the primary's positions, in order, and refuses any other. */
class AppendReplicatedTest {

    private final SimulatedStorage storage = new SimulatedStorage();

    private static Position at(long epoch, long seq) {
        return new Position(epoch, seq);
    }

    private static JournalRecord record(Position p, RecordKind kind, int volume, long offset, long length, ByteBuffer data) {
        return new JournalRecord(Fixture.GROUP_ID, p, volume, offset, length, kind, Primary.T0 + 7 * p.seq(), data);
    }

    private static List<JournalRecord> sendAll(FileJournal j, List<JournalRecord> records) throws IOException {
        for (JournalRecord r : records) {
            assertThat(j.appendReplicated(r)).isEqualTo(r.position());
            assertThat(j.head()).isEqualTo(r.position());
        }
        return records;
    }

    private static void assertHolds(FileJournal j, List<JournalRecord> sent) throws IOException {
        List<JournalRecord> back = Fixture.readAll(j);
        assertThat(back).extracting(JournalRecord::position).containsExactlyElementsOf(sent.stream().map(JournalRecord::position).toList());
        for (int i = 0; i < sent.size(); i++) {
            assertSameRecord(back.get(i), sent.get(i));
        }
    }

    @Test
    void recordsOfEveryKindReadBackWithThePrimarysPositionsTimesAndData() throws IOException {
        byte[] marker = "restart-point-7".getBytes(StandardCharsets.UTF_8);
        List<JournalRecord> sent = List.of(
                write(at(1, 1), 4096, 1),
                record(at(1, 2), RecordKind.TRIM, 2, 1 << 20, 65536, null),
                record(at(1, 3), RecordKind.ZERO, 2, 0, 8192, null),
                record(at(1, 4), RecordKind.RESIZE, 3, 1L << 30, 0, null),
                record(at(1, 5), RecordKind.MARKER, 0, 0, marker.length, ByteBuffer.wrap(marker)),
                flush(at(1, 6)),
                write(at(1, 7), 13, 1),
                write(at(1, 8), Fixture.MAX_RECORD, 1));
        try (FileJournal j = Fixture.open(storage)) {
            sendAll(j, sent);
            assertThat(j.durable()).as("a replicated record is not durable before a force").isEqualTo(Position.ZERO);
            assertThat(j.epoch()).isEqualTo(1);
            assertThat(j.history()).containsExactly(new EpochEntry(1, "local", 1, 0));
            assertHolds(j, sent);
            assertThat(Fixture.read(j, at(1, 3), at(1, 5))).extracting(JournalRecord::position).containsExactly(at(1, 4), at(1, 5));
            j.force(j.head());
            assertThat(j.durable()).isEqualTo(at(1, 8));
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.head()).isEqualTo(at(1, 8));
            assertHolds(j, sent);
        }
    }

    @Test
    void recordsCrossSegmentsAndSurviveAPowerCutOnceForced() throws IOException {
        Primary primary = new Primary(11, Position.ZERO);
        List<JournalRecord> sent = new ArrayList<>();
        FileJournal j = Fixture.open(storage);
        for (int i = 0; i < 150; i++) {
            if (i == 60) {
                primary.raiseEpoch(2);
            }
            JournalRecord r = primary.after(j.head());
            j.appendReplicated(r);
            sent.add(r);
        }
        assertThat(j.status().segments()).as("the stream spans several segments").isGreaterThan(3);
        j.force(j.head());
        storage.simulatePowerCut(5);

        FileJournal r = Fixture.open(storage);
        assertThat(r.head()).isEqualTo(at(3, 150));
        assertHolds(r, sent);
        assertThat(r.history()).containsExactly(new EpochEntry(1, "local", 1, 0), new EpochEntry(3, FileJournal.REPLICATED_SITE, 61, 60));
        r.close();
    }

    @Test
    void theRecordsBufferIsNotConsumed() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            ByteBuffer data = Fixture.data(3, 100);
            data.position(10);
            JournalRecord r = record(at(1, 1), RecordKind.WRITE, 1, 0, 90, data);
            j.appendReplicated(r);
            assertThat(data.position()).isEqualTo(10);
            assertThat(r.data().remaining()).isEqualTo(90);
            assertThat(Fixture.bytes(Fixture.readAll(j).get(0).data())).isEqualTo(Fixture.bytes(data));
        }
    }

    @Test
    void aGapIsRefusedNamingTheRecordTheHeadAndTheSeqExpected() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            List<JournalRecord> sent = sendAll(j, List.of(write(at(1, 1), 100, 1), write(at(1, 2), 100, 1), write(at(1, 3), 100, 1)));
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 5), 100, 2)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("record 1/5").hasMessageContaining("head 1/3").hasMessageContaining("must be 4")
                    .hasMessageContaining("group " + Fixture.GROUP);
            // a higher epoch does not excuse a gap
            assertThatThrownBy(() -> j.appendReplicated(write(at(2, 9), 100, 2)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 2/9").hasMessageContaining("head 1/3");
            assertThat(j.head()).isEqualTo(at(1, 3));
            assertThat(j.epoch()).as("a refused record adds no epoch").isEqualTo(1);
            assertThat(j.history()).hasSize(1);
            assertHolds(j, sent);
            assertThat(j.appendReplicated(write(at(1, 4), 100, 1))).isEqualTo(at(1, 4));
        }
    }

    @Test
    void aDuplicateOrOlderRecordIsRefusedAndTheHeldOneIsKept() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            List<JournalRecord> sent = sendAll(j, List.of(write(at(1, 1), 100, 1), write(at(1, 2), 100, 1), write(at(1, 3), 100, 1)));
            // the same position again, with other data: refused, not overwritten
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 3), 100, 2)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("record 1/3").hasMessageContaining("head 1/3").hasMessageContaining("must be 4");
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 1), 100, 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 1/1").hasMessageContaining("head 1/3");
            assertThatThrownBy(() -> j.appendReplicated(write(at(2, 2), 100, 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 2/2").hasMessageContaining("head 1/3");
            assertThat(j.head()).isEqualTo(at(1, 3));
            assertThat(j.status().records()).isEqualTo(3);
            assertHolds(j, sent);
        }
    }

    @Test
    void aRecordOfALowerEpochIsRefused() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            List<JournalRecord> sent = new ArrayList<>(sendAll(j, List.of(write(at(2, 1), 100, 1), write(at(2, 2), 100, 1))));
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 3), 100, 1)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("record 1/3").hasMessageContaining("epoch 1").hasMessageContaining("current epoch 2")
                    .hasMessageContaining("head 2/2");
            // This site took over (epoch 5): records of the fenced primary's epoch 4 are refused.
            j.beginEpoch(5, "site-b");
            assertThatThrownBy(() -> j.appendReplicated(write(at(4, 3), 100, 1)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("record 4/3").hasMessageContaining("current epoch 5").hasMessageContaining("head 2/2");
            assertThat(j.head()).isEqualTo(at(2, 2));
            assertHolds(j, sent);
            sent.addAll(sendAll(j, List.of(write(at(5, 3), 100, 1))));
            assertHolds(j, sent);
        }
    }

    @Test
    void aHigherEpochIsAddedToTheHistoryOnceThePreviousEpochsRecordsAreDurable() throws IOException {
        List<JournalRecord> sent = new ArrayList<>();
        try (FileJournal j = Fixture.open(storage)) {
            sent.addAll(sendAll(j, List.of(write(at(1, 1), 100, 1), write(at(1, 2), 100, 1))));
            assertThat(j.durable()).isEqualTo(Position.ZERO);
            sent.addAll(sendAll(j, List.of(write(at(4, 3), 100, 1))));
            assertThat(j.durable()).as("the history names seq 2 as the previous epoch's last: it is durable").isGreaterThanOrEqualTo(at(1, 2));
            assertThat(j.epoch()).isEqualTo(4);
            assertThat(j.history()).containsExactly(new EpochEntry(1, "local", 1, 0), new EpochEntry(4, FileJournal.REPLICATED_SITE, 3, 2));
            // the same epoch again adds nothing; the next higher one does
            sent.addAll(sendAll(j, List.of(flush(at(4, 4)), write(at(6, 5), 100, 1))));
            assertThat(j.history()).extracting(EpochEntry::epoch).containsExactly(1L, 4L, 6L);
            assertThat(j.history().get(2)).isEqualTo(new EpochEntry(6, FileJournal.REPLICATED_SITE, 5, 4));
            assertHolds(j, sent);
            // a local append after replicated ones continues the sequence in the learned epoch
            assertThat(j.append(RecordKind.FLUSH, 0, 0, 0, null)).isEqualTo(at(6, 6));
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.epoch()).isEqualTo(6);
            assertThat(j.history()).extracting(EpochEntry::epoch).containsExactly(1L, 4L, 6L);
            assertThat(j.head()).isEqualTo(at(6, 6));
            List<JournalRecord> back = Fixture.read(j, Position.ZERO, at(6, 5));
            assertThat(back).hasSameSizeAs(sent);
            for (int i = 0; i < sent.size(); i++) {
                assertSameRecord(back.get(i), sent.get(i));
            }
        }
    }

    @Test
    void aCopyThatStartsMidStreamMustRebaseFirst() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            assertThatThrownBy(() -> j.appendReplicated(write(at(3, 101), 100, 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 3/101").hasMessageContaining("head 0/0")
                    .hasMessageContaining("must be 1");
            assertThat(j.head()).isEqualTo(Position.ZERO);
            j.rebase(at(3, 100));
            assertThat(j.appendReplicated(write(at(3, 101), 100, 1))).isEqualTo(at(3, 101));
            assertHolds(j, List.of(write(at(3, 101), 100, 1)));
        }
    }

    @Test
    void badRecordsAreRefusedWithTheReasonAndChangeNothing() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            assertThatThrownBy(() -> j.appendReplicated(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("record");
            assertThatThrownBy(() -> j.appendReplicated(record(at(1, 1), RecordKind.MARKER, 0, 0, 10, Fixture.data(1, 5))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("length 10").hasMessageContaining("5 bytes");
            assertThatThrownBy(() -> j.appendReplicated(record(at(1, 1), RecordKind.TRIM, 1, 0, 10, Fixture.data(1, 10))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("carry no data").hasMessageContaining("10 bytes");
            assertThatThrownBy(() -> j.appendReplicated(record(at(1, 1), RecordKind.ZERO, 1, -4096, 10, null)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-4096");
            int tooBig = Fixture.MAX_RECORD + 1;
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 1), tooBig, 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(String.valueOf(tooBig));
            assertThat(j.head()).isEqualTo(Position.ZERO);
            assertThat(j.status().records()).isZero();
            assertThat(j.appendReplicated(write(at(1, 1), 100, 1))).isEqualTo(at(1, 1));
        }
    }

    @Test
    void aFullJournalRefusesTheRecordUntilSpaceIsMadeAndThenTakesItAgain() throws IOException {
        try (FileJournal j = Fixture.open(storage, Fixture.settings(4 * Fixture.SEGMENT))) {
            JournalFullException full = null;
            for (long seq = 1; seq <= 100 && full == null; seq++) {
                try {
                    j.appendReplicated(write(at(1, seq), 8000, 1));
                } catch (JournalFullException e) {
                    full = e;
                }
            }
            assertThat(full).as("four segments of 64 KiB fill up").isNotNull();
            assertThat(full.getMessage()).contains("group " + Fixture.GROUP).contains("checkpoint");
            Position head = j.head();
            JournalRecord refused = write(at(1, head.seq() + 1), 8000, 1);
            assertThat(Fixture.readAll(j)).hasSize((int) head.seq());

            j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
            assertThat(j.appendReplicated(refused)).isEqualTo(refused.position());
            for (long seq = refused.seq() + 1; seq <= 200; seq++) {
                j.appendReplicated(write(at(1, seq), 8000, 1));
            }
            assertThat(j.head()).isEqualTo(at(1, 200));
            List<JournalRecord> rest = Fixture.readAll(j);
            assertThat(rest).isNotEmpty();
            for (JournalRecord r : rest) {
                assertSameRecord(r, write(r.position(), 8000, 1));
            }
        }
    }
}
