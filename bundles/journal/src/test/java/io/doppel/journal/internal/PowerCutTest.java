package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.LongStream;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.RecoveryReport;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random workloads cut by simulated power failures: whatever was forced survives intact,
 * nothing corrupt is ever returned, and the journal recovers again after a second cut.
 */
class PowerCutTest {

    private static final RecordKind[] OTHER = {RecordKind.TRIM, RecordKind.ZERO, RecordKind.FLUSH, RecordKind.RESIZE, RecordKind.MARKER};

    private record Expected(RecordKind kind, long epoch, int volume, long offset, long length, byte[] data) {
    }

    /** What the workload knows was made durable. */
    private static final class Promises {
        Position forced = Position.ZERO;
        Position checkpoint = Position.ZERO;
        long appended;
    }

    static LongStream seeds() {
        return LongStream.rangeClosed(1, 200);
    }

    /**
     * 64 KiB segments; odd seeds get only 6 of them, so that segments are released and
     * recycled (stale records behind the live ones) many times. An activity log of 8 extents of
     * 64 KiB, so that evictions happen.
     */
    private static JournalSettings settings(long seed) {
        return Fixture.settings((seed % 2 == 0 ? 48 : 6) * Fixture.SEGMENT, 8, 64 << 10);
    }

    private static FileJournal open(SimulatedStorage storage, long seed) throws IOException {
        FileJournal j = Fixture.open(storage, settings(seed));
        j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
        return j;
    }

    private static int ops(Random rnd, long seed) {
        return seed % 2 == 0 ? 40 + rnd.nextInt(60) : 150 + rnd.nextInt(150);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void forcedRecordsSurviveAPowerCutAndTheJournalRecoversTwice(long seed) throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        Random rnd = new Random(seed);
        Map<Long, Expected> expected = new HashMap<>();

        FileJournal j = open(storage, seed);
        Promises p1 = workload(j, rnd, expected, ops(rnd, seed));
        Set<ActivityExtent> hot1 = j.activityLog().extents();
        storage.simulatePowerCut(seed);

        FileJournal r1 = open(storage, seed);
        verify(r1, expected, p1, hot1);

        Promises p2 = workload(r1, rnd, expected, ops(rnd, seed));
        p2.forced = Position.max(p2.forced, r1.recovery().head());
        p2.checkpoint = Position.max(p2.checkpoint, r1.recovery().checkpoint());
        Set<ActivityExtent> hot2 = r1.activityLog().extents();
        if (seed % 2 == 1) {
            assertThat(j.recycledSegments() + r1.recycledSegments()).as("the small journal reused released segments").isPositive();
        }
        storage.simulatePowerCut(seed * 7919 + 13);

        FileJournal r2 = open(storage, seed);
        verify(r2, expected, p2, hot2);
        Position next = r2.append(RecordKind.FLUSH, 0, 0, 0, null);
        assertThat(next.seq()).isEqualTo(r2.recovery().head().seq() + 1);
        r2.checkpoint(next);
        r2.close();
        FileJournal r3 = open(storage, seed);
        assertThat(r3.recovery().cleanShutdown()).isTrue();
        assertThat(r3.recovery().tailDamage()).isEmpty();
        assertThat(r3.recovery().activityLog()).isEmpty();
        assertThat(r3.head()).isEqualTo(next);
        r3.close();
    }

    private static Promises workload(FileJournal j, Random rnd, Map<Long, Expected> expected, int ops) throws IOException {
        Promises p = new Promises();
        p.checkpoint = j.checkpoint();
        for (int i = 0; i < ops; i++) {
            int dice = rnd.nextInt(100);
            if (dice < 80) {
                RecordKind kind = rnd.nextInt(10) < 7 ? RecordKind.WRITE : OTHER[rnd.nextInt(OTHER.length)];
                int volume = 1 + rnd.nextInt(3);
                long offset = (long) rnd.nextInt(64) * 4096 + (rnd.nextBoolean() ? 0 : rnd.nextInt(4096));
                int size = rnd.nextInt(10) == 0 ? rnd.nextInt(Fixture.MAX_RECORD + 1) : rnd.nextInt(5000);
                ByteBuffer data = null;
                long length = size;
                if (kind.carriesData()) {
                    data = Fixture.data(rnd.nextLong(), size);
                } else if (kind == RecordKind.FLUSH) {
                    length = 0;
                    volume = 0;
                    offset = 0;
                }
                Position pos = j.append(kind, volume, offset, length, data);
                expected.put(pos.seq(), new Expected(kind, pos.epoch(), volume, offset, length, data == null ? new byte[0] : Fixture.bytes(data)));
                p.appended = pos.seq();
                if (kind == RecordKind.WRITE && length > 0) {
                    j.activityLog().touch(volume, offset, length, pos.seq());
                }
            } else if (dice < 92) {
                Position h = j.head();
                j.force(h);
                p.forced = Position.max(p.forced, h);
            } else if (dice < 98) {
                Position h = j.head();
                long span = h.seq() - j.checkpoint().seq();
                if (span > 0) {
                    long seq = j.checkpoint().seq() + 1 + (long) (rnd.nextDouble() * span);
                    Position at = new Position(expected.get(seq).epoch(), seq);
                    j.checkpoint(at);
                    p.checkpoint = Position.max(p.checkpoint, at);
                    p.forced = Position.max(p.forced, at);
                }
            } else {
                j.beginEpoch(j.epoch() + 1 + rnd.nextInt(3), "site-" + rnd.nextInt(3));
                p.forced = Position.max(p.forced, j.durable());
            }
        }
        return p;
    }

    private static void verify(FileJournal j, Map<Long, Expected> expected, Promises promised, Set<ActivityExtent> hotAtCut)
            throws IOException {
        RecoveryReport rep = j.recovery();
        Position head = j.head();
        assertThat(head.seq()).as("head is at least the last forced record").isGreaterThanOrEqualTo(promised.forced.seq());
        assertThat(head.seq()).as("nothing past what was appended").isLessThanOrEqualTo(Math.max(promised.appended, promised.forced.seq()));
        assertThat(j.durable()).isEqualTo(head);
        assertThat(rep.head()).isEqualTo(head);
        assertThat(rep.cleanShutdown()).isFalse();
        assertThat(rep.checkpoint()).isGreaterThanOrEqualTo(promised.checkpoint).isLessThanOrEqualTo(head);
        assertThat(rep.recordsToRedo()).isEqualTo(head.seq() - rep.checkpoint().seq());
        rep.tailDamage().ifPresent(d -> assertThat(d.lastGood()).isEqualTo(head));
        assertThat(rep.activityLog()).as("every extent hot at the cut is reported").containsAll(hotAtCut);
        assertThat(j.retainedStart()).isLessThanOrEqualTo(rep.checkpoint());

        List<JournalRecord> records = Fixture.readAll(j);
        long seq = j.retainedStart().seq();
        for (JournalRecord r : records) {
            seq++;
            assertThat(r.seq()).isEqualTo(seq);
            Expected e = expected.get(seq);
            assertThat(e).as("seq %d was appended", seq).isNotNull();
            assertThat(r.kind()).isEqualTo(e.kind());
            assertThat(r.position()).isEqualTo(new Position(e.epoch(), seq));
            assertThat(r.volumeId()).isEqualTo(e.volume());
            assertThat(r.offset()).isEqualTo(e.offset());
            assertThat(r.length()).isEqualTo(e.length());
            assertThat(Fixture.bytes(r.data())).isEqualTo(e.data());
        }
        assertThat(seq).as("records run to the head").isEqualTo(head.seq());
        assertThat(j.status().records()).isEqualTo(head.seq() - j.retainedStart().seq());
        // records past the head are gone: the next append reuses their seqs
        Set<Long> gone = new HashSet<>();
        for (long s : expected.keySet()) {
            if (s > head.seq()) {
                gone.add(s);
            }
        }
        expected.keySet().removeAll(gone);
    }
}
