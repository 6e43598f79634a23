package io.doppel.bitmap.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.TreeMap;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

/** add() runs for every folded record and every write while a peer is away: it must stay cheap. */
class PerformanceTest {

    private static final int ADDS = 1_000_000;

    private static DifferenceMap fresh() {
        return new RoaringDifferenceMap("p", Path.of("/maps/p.map"), new SimulatedStorage(), Position.ZERO, new TreeMap<>());
    }

    /** Nanoseconds for ADDS single-block writes at random blocks of a volume of {@code blocks} blocks. */
    private static long timeRandomAdds(long seed, long blocks) {
        DifferenceMap m = fresh();
        SplittableRandom rnd = new SplittableRandom(seed);
        long[] offsets = new long[ADDS];
        for (int i = 0; i < ADDS; i++) {
            offsets[i] = rnd.nextLong(blocks) * 4096;
        }
        long start = System.nanoTime();
        for (int i = 0; i < ADDS; i++) {
            m.add(i & 3, offsets[i], 4096);
        }
        long nanos = System.nanoTime() - start;
        assertThat(m.blocks()).isBetween((long) (ADDS * 0.9), (long) ADDS);
        return nanos;
    }

    @Test
    void aMillionRandomSingleBlockAddsTakeWellUnderASecond() {
        timeRandomAdds(99, 1L << 32); // warm-up
        long whole = timeRandomAdds(1, 1L << 32);
        long tib = timeRandomAdds(2, 1L << 28);
        System.out.printf("performance: 1e6 random single-block adds: %.0f ms over 16 TiB volumes, %.0f ms over 1 TiB volumes%n",
                whole / 1e6, tib / 1e6);
        assertThat(whole).isLessThan(1_000_000_000L);
        assertThat(tib).isLessThan(1_000_000_000L);
    }
}
