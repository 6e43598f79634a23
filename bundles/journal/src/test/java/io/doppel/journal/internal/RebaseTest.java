package io.doppel.journal.internal;

import static io.doppel.journal.internal.Primary.assertSameRecord;
import static io.doppel.journal.internal.Primary.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A copy's journal starting over at the primary's position after a resync. */
class RebaseTest {

    private final SimulatedStorage storage = new SimulatedStorage();

    private static Position at(long epoch, long seq) {
        return new Position(epoch, seq);
    }

    /** Sends the records after the head through {@code last} (epoch of the head, or 1). */
    private static List<JournalRecord> send(FileJournal j, long lastSeq, int size, long salt) throws IOException {
        List<JournalRecord> sent = new ArrayList<>();
        long epoch = Math.max(1, j.head().epoch());
        for (long seq = j.head().seq() + 1; seq <= lastSeq; seq++) {
            JournalRecord r = write(at(epoch, seq), size, salt);
            j.appendReplicated(r);
            sent.add(r);
        }
        return sent;
    }

    private static void assertHolds(FileJournal j, List<JournalRecord> sent) throws IOException {
        List<JournalRecord> back = Fixture.readAll(j);
        assertThat(back).extracting(JournalRecord::position).containsExactlyElementsOf(sent.stream().map(JournalRecord::position).toList());
        for (int i = 0; i < sent.size(); i++) {
            assertSameRecord(back.get(i), sent.get(i));
        }
    }

    private static void assertStartsOverAt(FileJournal j, Position newHead) {
        assertThat(j.head()).isEqualTo(newHead);
        assertThat(j.durable()).isEqualTo(newHead);
        assertThat(j.checkpoint()).isEqualTo(newHead);
        assertThat(j.retainedStart()).isEqualTo(newHead);
        assertThat(j.status().records()).isZero();
    }

    @Test
    void rebaseIsRefusedUntilTheCheckpointReachesTheHead() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            List<JournalRecord> sent = send(j, 10, 1000, 1);
            j.checkpoint(at(1, 6));
            assertThatThrownBy(() -> j.rebase(at(1, 50)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("group " + Fixture.GROUP).hasMessageContaining("to 1/50")
                    .hasMessageContaining("checkpoint 1/6").hasMessageContaining("head 1/10");
            assertThat(j.head()).isEqualTo(at(1, 10));
            assertThat(j.checkpoint()).isEqualTo(at(1, 6));
            assertThat(j.retainedStart()).isEqualTo(Position.ZERO);
            assertHolds(j, sent);
            // the stream goes on after the old head, not after the refused one
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 51), 1000, 1))).isInstanceOf(IllegalArgumentException.class);
            assertThat(j.appendReplicated(write(at(1, 11), 1000, 1))).isEqualTo(at(1, 11));
        }
    }

    @Test
    void rebaseIsRefusedWhileACursorStillNeedsARecord() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            send(j, 3, 1000, 1);
            JournalCursor peer = j.cursor("peer-b", null);
            JournalCursor gone = j.cursor("backup", null);
            List<JournalRecord> sent = send(j, 10, 1000, 1);
            j.checkpoint(j.head());
            assertThatThrownBy(() -> j.rebase(at(2, 500)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("group " + Fixture.GROUP).hasMessageContaining("'backup'").hasMessageContaining("1/3")
                    .hasMessageContaining("head 1/10");
            gone.remove();
            assertThatThrownBy(() -> j.rebase(at(2, 500)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("'peer-b'").hasMessageContaining("1/3");
            assertThat(j.head()).isEqualTo(at(1, 10));
            assertThat(j.epoch()).as("a refused rebase adds no epoch").isEqualTo(1);
            assertThat(Fixture.read(j, peer.position(), j.head())).hasSameSizeAs(sent);

            peer.advance(j.head());
            j.rebase(at(2, 500));
            assertStartsOverAt(j, at(2, 500));
            assertThat(peer.position()).as("the cursor moved with the journal").isEqualTo(at(2, 500));
            assertThat(peer.lagRecords()).isZero();
            assertThat(j.status().cursors()).singleElement().satisfies(c -> {
                assertThat(c.consumer()).isEqualTo("peer-b");
                assertThat(c.position()).isEqualTo(at(2, 500));
            });
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.cursor("peer-b", null).position()).isEqualTo(at(2, 500));
        }
    }

    @Test
    void afterARebaseTheJournalHoldsNothingAndContinuesAfterTheNewHead() throws IOException {
        List<JournalRecord> after = new ArrayList<>();
        try (FileJournal j = Fixture.open(storage)) {
            send(j, 20, 3000, 1);
            j.checkpoint(j.head());
            j.rebase(at(3, 500));
            assertStartsOverAt(j, at(3, 500));
            assertThat(Fixture.readAll(j)).isEmpty();
            assertThatThrownBy(() -> j.read(at(1, 10), j.head()))
                    .isInstanceOf(JournalGapException.class).hasMessageContaining("1/10").hasMessageContaining("3/500");
            assertThat(j.epoch()).isEqualTo(3);
            assertThat(j.history()).containsExactly(new EpochEntry(1, "local", 1, 0), new EpochEntry(3, FileJournal.REPLICATED_SITE, 501, 500));

            // the old stream's next record, and a gap after the new head, are refused naming both positions
            assertThatThrownBy(() -> j.appendReplicated(write(at(1, 21), 3000, 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 1/21").hasMessageContaining("head 3/500");
            assertThatThrownBy(() -> j.appendReplicated(write(at(3, 502), 3000, 2)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("record 3/502").hasMessageContaining("head 3/500")
                    .hasMessageContaining("must be 501");
            after.addAll(send(j, 501, 3000, 2));
            assertThat(j.append(RecordKind.WRITE, 1, 0, 3000, Fixture.data(502, 3000))).as("a local append follows too").isEqualTo(at(3, 502));
            assertThat(Fixture.read(j, at(3, 500), at(3, 501))).hasSize(1);
            assertSameRecord(Fixture.readAll(j).get(0), after.get(0));
            assertThat(Fixture.readAll(j)).extracting(JournalRecord::position).containsExactly(at(3, 501), at(3, 502));
            j.checkpoint(j.head());
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.recovery().cleanShutdown()).isTrue();
            assertThat(j.head()).isEqualTo(at(3, 502));
            assertThat(j.retainedStart()).isEqualTo(at(3, 500));
            assertThat(j.history()).extracting(EpochEntry::epoch).containsExactly(1L, 3L);
            assertThat(Fixture.readAll(j)).extracting(JournalRecord::position).containsExactly(at(3, 501), at(3, 502));
        }
    }

    @Test
    void aRebaseIsKeptWhenTheJournalIsClosedOrLosesPowerRightAfter() throws IOException {
        FileJournal j = Fixture.open(storage);
        send(j, 30, 3000, 1);
        j.checkpoint(j.head());
        j.rebase(at(2, 7));
        storage.simulatePowerCut(1);

        FileJournal r = Fixture.open(storage);
        assertStartsOverAt(r, at(2, 7));
        assertThat(r.recovery().recordsToRedo()).isZero();
        assertThat(r.recovery().tailDamage()).as("the old records are not taken for a damaged tail").isEmpty();
        assertThat(r.epoch()).isEqualTo(2);
        r.rebase(at(2, 40));
        r.close();

        FileJournal c = Fixture.open(storage);
        assertThat(c.recovery().cleanShutdown()).isTrue();
        assertStartsOverAt(c, at(2, 40));
        assertThat(c.history()).containsExactly(new EpochEntry(1, "local", 1, 0), new EpochEntry(2, FileJournal.REPLICATED_SITE, 8, 7));
        c.close();
    }

    /**
     * The new head below the old one: the seqs come again, with other records. Six segments of
     * 64 KiB, so that segment files are released and reused before and after the rebase.
     */
    @ParameterizedTest(name = "rebase to {0}/{1}, then {2}")
    @CsvSource({
            "0, 0, power cut", "0, 0, clean close",
            "1, 40, power cut", "1, 40, clean close",
            "2, 40, power cut", "2, 40, clean close",
            "2, 299, power cut"})
    void aRebaseToALowerSeqNeverBringsBackTheOldRecords(long epoch, long seq, String end) throws IOException {
        Position newHead = at(epoch, seq);
        FileJournal j = Fixture.open(storage, Fixture.settings(6 * Fixture.SEGMENT));
        j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
        send(j, 300, 3000, 1);
        assertThat(j.recycledSegments()).as("segment files were reused before the rebase").isPositive();
        j.checkpoint(j.head());
        j.rebase(newHead);
        assertStartsOverAt(j, newHead);

        // the same seqs as before with other data, then a few unforced ones
        List<JournalRecord> sent = send(j, 350, 3000, 2);
        j.force(j.head());
        for (long s = 351; s <= 353; s++) {
            j.appendReplicated(write(at(Math.max(1, epoch), s), 3000, 2));
        }
        FileJournal r;
        if (end.equals("power cut")) {
            storage.simulatePowerCut(epoch * 1000 + seq);
            r = Fixture.open(storage, Fixture.settings(6 * Fixture.SEGMENT));
            assertThat(r.head().seq()).isBetween(350L, 353L);
        } else {
            j.close();
            r = Fixture.open(storage, Fixture.settings(6 * Fixture.SEGMENT));
            assertThat(r.head().seq()).isEqualTo(353);
        }
        assertThat(r.retainedStart()).isGreaterThanOrEqualTo(newHead);
        List<JournalRecord> back = Fixture.read(r, r.retainedStart(), at(Math.max(1, epoch), 350));
        assertThat(back).isNotEmpty();
        for (JournalRecord b : back) {
            assertSameRecord(b, sent.get((int) (b.seq() - seq - 1)));
        }
        assertThat(back.get(back.size() - 1).seq()).isEqualTo(350);
        r.close();
    }

    /**
     * Records of one size, so that every segment holds the same number of them and the seqs of
     * an old segment file line up with the new records: rebased to just below an old file's
     * first seq, a reused file would hold, right behind each new record, an intact old record
     * with the very seq expected next. None of them may come back.
     */
    @ParameterizedTest(name = "rebase to 1/(perSegment x {0}), then {1}")
    @CsvSource({"0, power cut", "0, clean close", "1, power cut", "2, clean close", "3, power cut", "4, power cut", "5, clean close"})
    void aRebaseToJustBelowAnOldSegmentsFirstSeqDoesNotRevivePastRecords(int k, String end) throws IOException {
        int size = 3000;
        long perSegment = (Fixture.SEGMENT - SegmentFormat.HEADER_BYTES) / RecordFormat.recordBytes(size);
        JournalSettings settings = Fixture.settings(6 * Fixture.SEGMENT);
        FileJournal j = Fixture.open(storage, settings);
        j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
        send(j, 12 * perSegment + perSegment / 2, size, 1);
        j.checkpoint(j.head());
        Position newHead = at(1, k * perSegment);
        j.rebase(newHead);

        // fewer new records than an old segment held, so the old ones lie right behind them
        List<JournalRecord> sent = new ArrayList<>();
        for (long seq = newHead.seq() + 1; seq <= newHead.seq() + perSegment / 2; seq++) {
            JournalRecord r = write(at(1, seq), size, 2);
            j.appendReplicated(r);
            sent.add(r);
        }
        j.force(j.head());
        FileJournal r;
        if (end.equals("power cut")) {
            storage.simulatePowerCut(k);
            r = Fixture.open(storage, settings);
        } else {
            j.close();
            r = Fixture.open(storage, settings);
        }
        assertThat(r.head()).as("only the new records").isEqualTo(sent.get(sent.size() - 1).position());
        assertThat(r.recovery().tailDamage()).isEmpty();
        assertHolds(r, sent);
        r.close();
    }

    @Test
    void anOpenReaderEndsWithAGapAtARebaseInsteadOfReadingOtherRecords() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            send(j, 50, 200, 1); // all in one segment: the checkpoint releases none
            // negative control: without a rebase the reader reads every record
            try (JournalReader r = j.read(Position.ZERO, j.head())) {
                int n = 0;
                while (r.next() != null) {
                    n++;
                }
                assertThat(n).isEqualTo(50);
            }
            j.checkpoint(j.head());
            try (JournalReader r = j.read(Position.ZERO, j.head())) {
                for (int i = 1; i <= 10; i++) {
                    assertThat(r.next().seq()).isEqualTo(i);
                }
                j.rebase(at(1, 5));
                send(j, 60, 200, 2);
                assertThatThrownBy(r::next).isInstanceOf(JournalGapException.class).hasMessageContaining("1/5");
            }
        }
    }

    @Test
    void aRebaseOfAClosedJournalFails() throws IOException {
        FileJournal j = Fixture.open(storage);
        j.close();
        assertThatThrownBy(() -> j.rebase(at(1, 5))).isInstanceOf(IOException.class).hasMessageContaining("closed")
                .hasMessageContaining(Fixture.GROUP);
        assertThatThrownBy(() -> j.rebase(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("newHead");
    }

    /**
     * Hot extents stay hot across a rebase, but no longer wait for the dropped records: the
     * first eviction after a rebase to a lower seq must not try to force the journal through a
     * seq it no longer has.
     */
    @Test
    void theActivityLogOutlivesARebaseWithoutWaitingForDroppedRecords() throws IOException {
        long extent = 64 << 10;
        FileJournal j = Fixture.open(storage, Fixture.settings(16 * Fixture.SEGMENT, 2, extent));
        for (long seq = 1; seq <= 100; seq++) {
            JournalRecord r = write(at(1, seq), 100, 1);
            j.appendReplicated(r);
            j.activityLog().touch(1, (seq % 2) * extent, 100, seq);
        }
        assertThat(j.activityLog().extents()).containsExactlyInAnyOrder(new ActivityExtent(1, 0), new ActivityExtent(1, 1));
        j.checkpoint(j.head());
        j.rebase(at(1, 10));
        assertThat(j.activityLog().extents()).as("still hot after the rebase").hasSize(2);

        j.appendReplicated(write(at(1, 11), 100, 2));
        j.activityLog().touch(2, 0, 100, 11); // evicts an extent last touched by seq 99 or 100
        assertThat(j.activityLog().extents()).contains(new ActivityExtent(2, 0)).hasSize(2);
        j.appendReplicated(write(at(1, 12), 100, 2));
        j.activityLog().touch(3, 0, 100, 12);
        assertThat(j.activityLog().extents()).containsExactlyInAnyOrder(new ActivityExtent(2, 0), new ActivityExtent(3, 0));
        Set<ActivityExtent> hot = j.activityLog().extents();
        storage.simulatePowerCut(3);

        FileJournal r = Fixture.open(storage, Fixture.settings(16 * Fixture.SEGMENT, 2, extent));
        assertThat(r.recovery().activityLog()).containsAll(hot);
        assertThat(r.head().seq()).isBetween(10L, 12L);
        r.close();
    }
}
