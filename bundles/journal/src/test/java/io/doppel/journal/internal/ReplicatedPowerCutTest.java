package io.doppel.journal.internal;

import static io.doppel.journal.internal.Primary.assertSameRecord;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.OverflowHandler;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.RecoveryReport;
import io.doppel.api.storage.Storage;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A copy's journal fed by a primary's stream, cut by simulated power failures in the middle of
 * the stream and around rebases: afterwards the head is a position the journal reached, every
 * record made durable (by a force, a checkpoint or a rebase) is there, and every record read
 * back is the one sent, once, with the primary's position.
 */
class ReplicatedPowerCutTest {

    private static final int STREAM_SEEDS = 40;
    private static final int REBASE_SEEDS = 24;

    /** Evidence, over all seeds, that the checks were put to work (see {@link #theSeedsCoveredWhatTheyShould}). */
    private static final AtomicInteger streamRuns = new AtomicInteger();
    private static final AtomicInteger rebaseRuns = new AtomicInteger();
    private static final AtomicInteger cutsThatLostRecords = new AtomicInteger();
    private static final AtomicInteger cutsAfterARebase = new AtomicInteger();
    private static final AtomicInteger rebasesToALowerSeq = new AtomicInteger();
    private static final AtomicInteger rebasesRefused = new AtomicInteger();
    private static final AtomicInteger epochsRaised = new AtomicInteger();

    /** What the test knows of the copy: lower bounds the journal promised, and where it was. */
    private static final class Copy {
        /** The last rebase: nothing before it may come back. */
        Position base = Position.ZERO;
        Position forced = Position.ZERO;
        Position checkpoint = Position.ZERO;

        void rebased(Position newHead) {
            base = newHead;
            forced = newHead;
            checkpoint = newHead;
        }
    }

    private static JournalSettings settings(long seed) {
        return Fixture.settings((seed % 2 == 0 ? 48 : 6) * Fixture.SEGMENT, 8, 64 << 10);
    }

    private static FileJournal open(Storage storage, JournalSettings settings) throws IOException {
        FileJournal j = Fixture.open(storage, settings);
        j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
        return j;
    }

    /** A downstream consumer; when the journal is full it folds (here: reads) what it lacks. */
    private static JournalCursor cursor(FileJournal j) throws IOException {
        OverflowHandler drain = (records, upTo) -> {
            while (records.next() != null) {
                // a real consumer would mark the blocks in its difference map
            }
        };
        return j.cursor("peer-c", drain);
    }

    /** Sends the primary's next record (the one after the head, sent again if the copy lost it). */
    private static JournalRecord sendNext(FileJournal j, Primary primary, Random rnd) throws IOException {
        if (primary.last().equals(j.head()) && rnd.nextInt(40) == 0) {
            primary.raiseEpoch(1 + rnd.nextInt(2));
            epochsRaised.incrementAndGet();
        }
        JournalRecord r = primary.after(j.head());
        assertThat(j.appendReplicated(r)).isEqualTo(r.position());
        if (r.kind() == RecordKind.WRITE && r.length() > 0 && rnd.nextBoolean()) {
            j.activityLog().touch(r.volumeId(), r.offset(), r.length(), r.seq());
        }
        return r;
    }

    /** A new head for a rebase: below or above the current one, in the same or a higher epoch. */
    private static Position newHead(FileJournal j, Random rnd) {
        long seq = j.head().seq();
        seq = rnd.nextBoolean() ? seq - rnd.nextInt((int) Math.min(seq, 400) + 1) : seq + rnd.nextInt(2000);
        return new Position(j.epoch() + rnd.nextInt(2), seq);
    }

    private static void rebase(FileJournal j, JournalCursor cursor, Primary primary, Copy copy, Position newHead) throws IOException {
        if (newHead.seq() < j.head().seq()) {
            rebasesToALowerSeq.incrementAndGet();
        }
        j.rebase(newHead);
        assertThat(j.head()).isEqualTo(newHead);
        assertThat(cursor.position()).isEqualTo(newHead);
        primary.restart(newHead);
        copy.rebased(newHead);
    }

    private static void workload(FileJournal j, JournalCursor cursor, Primary primary, Copy copy, Random rnd, int ops) throws IOException {
        for (int i = 0; i < ops; i++) {
            int dice = rnd.nextInt(100);
            Position head = j.head();
            if (dice < 72) {
                sendNext(j, primary, rnd);
            } else if (dice < 84) {
                j.force(head);
                copy.forced = Position.max(copy.forced, head);
            } else if (dice < 90) {
                long span = head.seq() - j.checkpoint().seq();
                if (span > 0) {
                    long seq = j.checkpoint().seq() + 1 + (long) (rnd.nextDouble() * span);
                    Position p = primary.record(seq).position();
                    j.checkpoint(p);
                    copy.checkpoint = Position.max(copy.checkpoint, p);
                    copy.forced = Position.max(copy.forced, p);
                }
            } else if (dice < 96) {
                long span = head.seq() - cursor.position().seq();
                if (span > 0) {
                    long seq = cursor.position().seq() + 1 + (long) (rnd.nextDouble() * span);
                    cursor.advance(primary.record(seq).position());
                }
            } else if (dice < 98) {
                // as the engine would try it, without preparing: refused unless everything happens to be checkpointed
                Position newHead = newHead(j, rnd);
                if (j.checkpoint().equals(head) && !cursor.position().isBefore(head)) {
                    rebase(j, cursor, primary, copy, newHead);
                } else {
                    assertThatThrownBy(() -> j.rebase(newHead)).isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining(head.toString());
                    assertThat(j.head()).isEqualTo(head);
                    rebasesRefused.incrementAndGet();
                }
            } else {
                j.checkpoint(head);
                cursor.advance(head);
                rebase(j, cursor, primary, copy, newHead(j, rnd));
            }
        }
    }

    /** Checks a journal reopened after a power cut against what the test knows. */
    private static void verify(FileJournal j, Primary primary, Copy copy, Set<ActivityExtent> hotAtCut) throws IOException {
        RecoveryReport rep = j.recovery();
        Position head = j.head();
        assertThat(head).as("a rebase that returned is kept").isGreaterThanOrEqualTo(copy.base);
        assertThat(head.equals(copy.base) || primary.at(head) != null).as("head %s is a position the journal reached", head).isTrue();
        assertThat(head.seq()).as("head is at least the last record made durable").isGreaterThanOrEqualTo(copy.forced.seq());
        assertThat(head.seq()).as("nothing past what was sent").isLessThanOrEqualTo(primary.last().seq());
        assertThat(j.durable()).isEqualTo(head);
        assertThat(rep.head()).isEqualTo(head);
        assertThat(rep.cleanShutdown()).isFalse();
        assertThat(rep.checkpoint()).isGreaterThanOrEqualTo(copy.checkpoint).isLessThanOrEqualTo(head);
        assertThat(rep.recordsToRedo()).isEqualTo(head.seq() - rep.checkpoint().seq());
        rep.tailDamage().ifPresent(d -> assertThat(d.lastGood()).isEqualTo(head));
        assertThat(rep.activityLog()).as("every extent hot at the cut is reported").containsAll(hotAtCut);
        assertThat(j.retainedStart()).as("nothing from before the rebase").isGreaterThanOrEqualTo(copy.base)
                .isLessThanOrEqualTo(rep.checkpoint());

        List<JournalRecord> records = Fixture.readAll(j);
        long seq = j.retainedStart().seq();
        Set<Long> epochs = new HashSet<>();
        for (EpochEntry e : j.history()) {
            epochs.add(e.epoch());
        }
        for (JournalRecord r : records) {
            seq++;
            assertThat(r.seq()).as("records follow each other, none twice").isEqualTo(seq);
            JournalRecord sent = primary.at(r.position());
            assertThat(sent).as("record %s was sent in this stream", r.position()).isNotNull();
            assertSameRecord(r, sent);
            assertThat(epochs).as("the history knows the epoch of %s", r.position()).contains(r.position().epoch());
        }
        assertThat(seq).as("records run to the head").isEqualTo(head.seq());
        assertThat(j.status().records()).isEqualTo(head.seq() - j.retainedStart().seq());
        assertThat(j.epoch()).isGreaterThanOrEqualTo(head.epoch());

        if (head.seq() < primary.last().seq()) {
            cutsThatLostRecords.incrementAndGet();
        }
        if (!copy.base.equals(Position.ZERO)) {
            cutsAfterARebase.incrementAndGet();
        }
        copy.forced = Position.max(copy.forced, head);
        copy.checkpoint = Position.max(copy.checkpoint, rep.checkpoint());
    }

    static LongStream streamSeeds() {
        return LongStream.rangeClosed(1, STREAM_SEEDS);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("streamSeeds")
    void powerCutsInAReplicatedStreamWithRebases(long seed) throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        Random rnd = new Random(seed);
        JournalSettings settings = settings(seed);
        Primary primary = new Primary(seed, Position.ZERO);
        Copy copy = new Copy();

        FileJournal j = open(storage, settings);
        workload(j, cursor(j), primary, copy, rnd, 150 + rnd.nextInt(200));
        Set<ActivityExtent> hot1 = j.activityLog().extents();
        storage.simulatePowerCut(seed);

        FileJournal r1 = open(storage, settings);
        verify(r1, primary, copy, hot1);
        JournalCursor c1 = cursor(r1);
        assertThat(c1.position()).as("no cursor points before the rebase").isGreaterThanOrEqualTo(copy.base);
        workload(r1, c1, primary, copy, rnd, 150 + rnd.nextInt(200));
        Set<ActivityExtent> hot2 = r1.activityLog().extents();
        storage.simulatePowerCut(seed * 7919 + 13);

        FileJournal r2 = open(storage, settings);
        verify(r2, primary, copy, hot2);
        cursor(r2);
        // the primary sends again what the copy lost, and the journal closes clean
        while (r2.head().seq() < primary.last().seq()) {
            r2.appendReplicated(primary.after(r2.head()));
        }
        JournalRecord last = primary.after(r2.head());
        r2.appendReplicated(last);
        r2.checkpoint(r2.head());
        r2.close();

        FileJournal r3 = open(storage, settings);
        assertThat(r3.recovery().cleanShutdown()).isTrue();
        assertThat(r3.recovery().tailDamage()).isEmpty();
        assertThat(r3.head()).isEqualTo(last.position());
        List<JournalRecord> all = Fixture.readAll(r3);
        for (JournalRecord r : all) {
            assertSameRecord(r, primary.at(r.position()));
        }
        r3.close();
        streamRuns.incrementAndGet();
    }

    static LongStream rebaseSeeds() {
        return LongStream.rangeClosed(1, REBASE_SEEDS);
    }

    /**
     * A stream, a rebase (below, at or above the old head; same or higher epoch), then none,
     * a few or many records of the new stream, and the power fails.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("rebaseSeeds")
    void powerCutsAroundARebase(long seed) throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        Random rnd = new Random(seed * 31 + 1);
        JournalSettings settings = Fixture.settings(6 * Fixture.SEGMENT, 8, 64 << 10);
        Primary primary = new Primary(seed, Position.ZERO);
        Copy copy = new Copy();

        FileJournal j = open(storage, settings);
        JournalCursor cursor = cursor(j);
        for (int i = 80 + rnd.nextInt(200); i > 0; i--) {
            sendNext(j, primary, rnd);
            if (rnd.nextInt(10) == 0) {
                j.force(j.head());
            }
        }
        Position old = j.head();
        j.checkpoint(old);
        cursor.advance(old);
        Position newHead = switch ((int) (seed % 3)) {
            case 0 -> new Position(j.epoch(), rnd.nextInt((int) old.seq()));
            case 1 -> new Position(j.epoch() + 1, old.seq());
            default -> new Position(j.epoch() + (seed % 2), old.seq() + 1 + rnd.nextInt(5000));
        };
        rebase(j, cursor, primary, copy, newHead);
        int after = switch ((int) (seed % 4)) {
            case 0 -> 0;
            case 1 -> 1 + rnd.nextInt(5);
            default -> 50 + rnd.nextInt(100);
        };
        for (int i = 0; i < after; i++) {
            sendNext(j, primary, rnd);
            if (rnd.nextInt(8) == 0) {
                j.force(j.head());
                copy.forced = j.head();
            }
        }
        Set<ActivityExtent> hot = j.activityLog().extents();
        storage.simulatePowerCut(seed * 131 + 7);

        FileJournal r = open(storage, settings);
        verify(r, primary, copy, hot);
        cursor(r);
        assertThat(r.history()).extracting(EpochEntry::epoch).contains(newHead.epoch());
        long through = primary.last().seq() + 20;
        while (r.head().seq() < through) {
            r.appendReplicated(primary.after(r.head()));
        }
        r.checkpoint(r.head());
        r.close();
        FileJournal c = open(storage, settings);
        assertThat(c.recovery().cleanShutdown()).isTrue();
        assertThat(c.head()).isEqualTo(primary.last());
        for (JournalRecord rec : Fixture.readAll(c)) {
            assertSameRecord(rec, primary.at(rec.position()));
        }
        c.close();
        rebaseRuns.incrementAndGet();
    }

    /**
     * The power fails at every step of a rebase in turn. Afterwards the journal is either the
     * old one, whole, or the new one, empty; either way the stream goes on from its head.
     */
    @ParameterizedTest(name = "rebase from 1/200 to {0}/{1}")
    @CsvSource({"0, 0", "1, 40", "2, 30", "2, 200", "3, 1000"})
    void aCrashAtAnyStepOfARebaseLeavesTheOldJournalOrTheNewOne(long epoch, long seq) throws IOException {
        Position newHead = new Position(epoch, seq);
        JournalSettings settings = Fixture.settings(6 * Fixture.SEGMENT);
        int oldOutcomes = 0;
        int newOutcomes = 0;
        for (int step = 0; ; step++) {
            SimulatedStorage disk = new SimulatedStorage();
            CrashingStorage crashing = new CrashingStorage(disk);
            FileJournal j = open(crashing, settings);
            JournalCursor cursor = cursor(j);
            Primary primary = new Primary(77, Position.ZERO);
            Random rnd = new Random(step);
            for (int i = 0; i < 200; i++) {
                j.appendReplicated(primary.after(j.head()));
            }
            Position old = j.head();
            j.checkpoint(old);
            cursor.advance(old);

            crashing.failAfter(step);
            boolean returned;
            try {
                j.rebase(newHead);
                returned = true;
            } catch (IOException e) {
                assertThat(crashing.dead()).as("the rebase failed only because the power was lost: %s", e).isTrue();
                returned = false;
            }
            boolean last = !crashing.dead();
            disk.simulatePowerCut(step);

            FileJournal r = open(disk, settings);
            Copy copy = new Copy();
            if (r.head().equals(old)) {
                assertThat(returned).as("step %d: a rebase that returned is kept", step).isFalse();
                copy.forced = old;
                oldOutcomes++;
            } else {
                assertThat(r.head()).as("step %d", step).isEqualTo(newHead);
                assertThat(Fixture.readAll(r)).isEmpty();
                assertThat(r.retainedStart()).isEqualTo(newHead);
                assertThat(r.checkpoint()).isEqualTo(newHead);
                primary.restart(newHead);
                copy.rebased(newHead);
                newOutcomes++;
            }
            verify(r, primary, copy, Set.of());
            JournalCursor after = cursor(r);
            if (r.head().equals(newHead)) {
                assertThat(after.position()).as("the cursor moved with the rebase").isEqualTo(newHead);
            }
            // the stream goes on from whichever head it is, through reused segment files
            for (int i = 0; i < 150; i++) {
                sendNext(r, primary, rnd);
            }
            r.force(r.head());
            copy.forced = r.head();
            disk.simulatePowerCut(step + 1000);
            FileJournal again = open(disk, settings);
            verify(again, primary, copy, Set.of());
            assertThat(again.head()).isEqualTo(primary.last());
            again.close();
            if (last) {
                assertThat(returned).isTrue();
                break;
            }
        }
        assertThat(newOutcomes).as("crashes after the commit point").isPositive();
        assertThat(oldOutcomes).as("crashes before the commit point").isPositive();
    }

    /**
     * The power fails at every step of a replicated record that opens a higher epoch. The
     * history may then name the new epoch without its first record, but only with the previous
     * epoch's records durable through the last seq it names; the primary sends again from the
     * head and the journal takes it.
     */
    @Test
    void aCrashAtAnyStepOfARecordThatRaisesTheEpoch() throws IOException {
        int epochKeptRecordLost = 0;
        for (int step = 0; ; step++) {
            SimulatedStorage disk = new SimulatedStorage();
            CrashingStorage crashing = new CrashingStorage(disk);
            FileJournal j = open(crashing, Fixture.settings(16 * Fixture.SEGMENT));
            Primary primary = new Primary(5, Position.ZERO);
            for (int i = 0; i < 20; i++) {
                j.appendReplicated(primary.after(j.head()));
            }
            j.force(j.head());
            for (int i = 0; i < 10; i++) {
                j.appendReplicated(primary.after(j.head())); // not durable
            }
            primary.raiseEpoch(2);
            JournalRecord raising = primary.after(j.head());
            assertThat(raising.position()).isEqualTo(new Position(3, 31));

            crashing.failAfter(step);
            boolean returned;
            try {
                j.appendReplicated(raising);
                returned = true;
            } catch (IOException e) {
                returned = false;
            }
            boolean last = !crashing.dead();
            disk.simulatePowerCut(step + 17);

            FileJournal r = open(disk, Fixture.settings(16 * Fixture.SEGMENT));
            Copy copy = new Copy();
            copy.forced = new Position(1, 20);
            verify(r, primary, copy, Set.of());
            boolean knowsEpoch3 = r.history().stream().anyMatch(e -> e.epoch() == 3);
            if (knowsEpoch3) {
                assertThat(r.history()).last().isEqualTo(new EpochEntry(3, FileJournal.REPLICATED_SITE, 31, 30));
                assertThat(r.head().seq()).as("step %d: seq 30, which the history names, is kept", step).isGreaterThanOrEqualTo(30);
                if (r.head().seq() == 30) {
                    epochKeptRecordLost++;
                }
            } else {
                assertThat(r.head().epoch()).isEqualTo(1);
            }
            while (r.head().seq() < 40) {
                r.appendReplicated(primary.after(r.head()));
            }
            r.force(r.head());
            copy.forced = r.head();
            disk.simulatePowerCut(step);
            FileJournal again = open(disk, Fixture.settings(16 * Fixture.SEGMENT));
            verify(again, primary, copy, Set.of());
            assertThat(again.history()).extracting(EpochEntry::epoch).containsExactly(1L, 3L);
            again.close();
            if (last) {
                assertThat(returned).isTrue();
                break;
            }
        }
        assertThat(epochKeptRecordLost).as("a crash between the history and the record was met").isPositive();
    }

    /** Negative control: the checks above fail on a journal that does not hold what was sent. */
    @Test
    void theChecksFailOnAJournalThatDoesNotHoldWhatWasSent() throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        Primary primary = new Primary(3, Position.ZERO);
        FileJournal j = open(storage, settings(2));
        for (int i = 0; i < 40; i++) {
            j.appendReplicated(primary.after(j.head()));
        }
        j.force(j.head());
        Position head = j.head();
        storage.simulatePowerCut(9);
        FileJournal r = open(storage, settings(2));

        Copy copy = new Copy();
        copy.forced = head;
        verify(r, primary, copy, Set.of()); // the right model passes

        Primary other = new Primary(4, Position.ZERO); // same positions, other records
        for (int i = 0; i < 40; i++) {
            other.after(other.last());
        }
        assertThatThrownBy(() -> verify(r, other, new Copy(), Set.of())).isInstanceOf(AssertionError.class);

        Copy promisedMore = new Copy();
        promisedMore.forced = new Position(1, 41);
        assertThatThrownBy(() -> verify(r, primary, promisedMore, Set.of())).isInstanceOf(AssertionError.class)
                .hasMessageContaining("durable");

        Copy rebasedLater = new Copy();
        rebasedLater.rebased(new Position(1, 60));
        assertThatThrownBy(() -> verify(r, primary, rebasedLater, Set.of())).isInstanceOf(AssertionError.class)
                .hasMessageContaining("rebase");

        Primary rebasedStream = new Primary(3, Position.ZERO);
        rebasedStream.restart(new Position(1, 20)); // the journal should hold only what follows 1/20
        Copy afterRebase = new Copy();
        afterRebase.rebased(new Position(1, 20));
        assertThatThrownBy(() -> verify(r, rebasedStream, afterRebase, Set.of())).isInstanceOf(AssertionError.class);
    }

    /** The seeds exercised what they are meant to: lost records, rebases of each kind, refusals, epochs. */
    @AfterAll
    static void theSeedsCoveredWhatTheyShould() {
        if (streamRuns.get() == STREAM_SEEDS) {
            assertThat(cutsThatLostRecords.get()).as("cuts that lost unforced records").isGreaterThan(STREAM_SEEDS / 2);
            assertThat(cutsAfterARebase.get()).as("cuts after a rebase").isGreaterThan(STREAM_SEEDS / 4);
            assertThat(rebasesRefused.get()).as("rebases refused").isPositive();
            assertThat(epochsRaised.get()).as("epochs raised in the stream").isPositive();
        }
        if (rebaseRuns.get() == REBASE_SEEDS) {
            assertThat(rebasesToALowerSeq.get()).as("rebases to a lower seq").isGreaterThanOrEqualTo(REBASE_SEEDS / 3);
        }
    }
}
