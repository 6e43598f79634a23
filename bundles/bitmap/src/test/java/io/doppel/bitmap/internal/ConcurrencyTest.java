package io.doppel.bitmap.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

/**
 * Writers mark blocks while another thread persists. Each writer marks a block in volume 1 and
 * then the same block in volume 2, in ascending order, so a consistent snapshot shows, for each
 * writer, a prefix of its blocks in volume 1 and at most that prefix in volume 2.
 */
class ConcurrencyTest {

    private static final Path DIR = Path.of("/maps");
    private static final int WRITERS = 3;
    private static final long STRIDE = 1L << 26;
    private static final int MIN_ADDS = 100_000;
    private static final int MIN_SNAPSHOTS = 5;

    @Test
    void persistedContentIsAConsistentSnapshot() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        DifferenceMap map = new DifferenceMapStore(storage, DIR).open("p");
        AtomicInteger checked = new AtomicInteger();
        AtomicInteger partial = new AtomicInteger();
        AtomicBoolean writing = new AtomicBoolean(true);
        List<String> violations = new ArrayList<>();

        ExecutorService pool = Executors.newFixedThreadPool(WRITERS + 1);
        try {
            Future<?> persister = pool.submit(() -> {
                long seq = 1;
                while (writing.get()) {
                    Position at = new Position(1, seq++);
                    map.persist(at);
                    DifferenceMap read = new DifferenceMapStore(storage, DIR).open("p");
                    assertThat(read.coveredThrough()).isEqualTo(at);
                    List<String> v = check(read, null);
                    synchronized (violations) {
                        violations.addAll(v);
                    }
                    if (read.blocks() > 0) {
                        partial.incrementAndGet();
                    }
                    checked.incrementAndGet();
                }
                return null;
            });
            List<Future<Long>> writers = new ArrayList<>();
            for (int t = 0; t < WRITERS; t++) {
                long base = t * STRIDE;
                writers.add(pool.submit(() -> {
                    long i = 0;
                    // Keep writing until the persister has checked enough snapshots taken mid-flight.
                    while ((i < MIN_ADDS || partial.get() < MIN_SNAPSHOTS) && !persister.isDone()) {
                        map.add(1, (base + i) * 4096, 4096);
                        map.addBlocks(2, base + i, 1);
                        i++;
                    }
                    return i;
                }));
            }
            long[] written = new long[WRITERS];
            for (int t = 0; t < WRITERS; t++) {
                written[t] = writers.get(t).get(60, TimeUnit.SECONDS);
            }
            writing.set(false);
            persister.get(60, TimeUnit.SECONDS);

            map.persist(new Position(2, 0));
            DifferenceMap last = new DifferenceMapStore(storage, DIR).open("p");
            assertThat(check(last, written)).isEmpty();
            System.out.printf("concurrency: %d snapshots checked (%d non-empty) while %d writers marked %d blocks%n", checked.get(),
                    partial.get(), WRITERS, last.blocks() / 2);
        } finally {
            pool.shutdownNow();
        }
        assertThat(violations).isEmpty();
        assertThat(partial.get()).as("non-empty snapshots taken while the writers were writing")
                .isGreaterThanOrEqualTo(MIN_SNAPSHOTS);
    }

    /** The checker finds a torn snapshot: without this, an empty result could mean it checks nothing. */
    @Test
    void theCheckerSeesATornSnapshot() {
        DifferenceMap torn = inMemory();
        torn.addBlocks(1, 0, 10);
        torn.addBlocks(2, 0, 11); // block 10 in volume 2 before volume 1
        assertThat(check(torn, null)).isNotEmpty();
        DifferenceMap gap = inMemory();
        gap.addBlocks(1, 0, 10);
        gap.addBlocks(1, 11, 1); // not a prefix
        assertThat(check(gap, null)).isNotEmpty();
        DifferenceMap fine = inMemory();
        fine.addBlocks(1, 0, 10);
        fine.addBlocks(2, 0, 9);
        assertThat(check(fine, null)).isEmpty();
        assertThat(check(fine, new long[] {10, 0, 0})).isNotEmpty(); // volume 2 lacks block 9
    }

    private static DifferenceMap inMemory() {
        return new RoaringDifferenceMap("p", DIR.resolve("p.map"), new SimulatedStorage(), Position.ZERO, new TreeMap<>());
    }

    /** Violations of the snapshot invariant; with {@code complete}, also that each writer's blocks are all there. */
    private static List<String> check(DifferenceMap m, long[] complete) {
        List<String> out = new ArrayList<>();
        List<Runs> v1 = Runs.of(m, 1);
        List<Runs> v2 = Runs.of(m, 2);
        if (!Set.of(1, 2).containsAll(m.volumes())) {
            out.add("unexpected volumes " + m.volumes());
        }
        for (int t = 0; t < WRITERS; t++) {
            long base = t * STRIDE;
            long n1 = prefix(v1, base, out, "volume 1");
            long n2 = prefix(v2, base, out, "volume 2");
            if (n2 > n1) {
                out.add("writer " + t + ": volume 2 has " + n2 + " blocks, volume 1 only " + n1);
            }
            if (complete != null && (n1 != complete[t] || n2 != complete[t])) {
                out.add("writer " + t + ": wrote " + complete[t] + " blocks, map has " + n1 + " and " + n2);
            }
        }
        return out;
    }

    /** Length of the run starting at {@code base}; anything else in the writer's stride is a violation. */
    private static long prefix(List<Runs> runs, long base, List<String> out, String what) {
        long n = 0;
        for (Runs r : runs) {
            if (r.first() >= base && r.first() < base + STRIDE) {
                if (r.first() == base) {
                    n = r.count();
                } else {
                    out.add(what + ": run " + r + " after a gap in the stride from " + base);
                }
            }
        }
        return n;
    }
}
