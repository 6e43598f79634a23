package io.doppel.bitmap.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class DifferenceMapTest {

    private static final long KIB = 1024;
    private static final long TIB = KIB * KIB * KIB * KIB;
    private static final long LAST_BLOCK = (1L << 32) - 1;

    private final DifferenceMap map = new RoaringDifferenceMap("p1", Path.of("/maps/p1.map"), new SimulatedStorage(), Position.ZERO,
            new TreeMap<>());

    @Test
    void aFreshMapIsEmpty() {
        assertThat(map.pairId()).isEqualTo("p1");
        assertThat(map.blocks()).isZero();
        assertThat(map.blocks(7)).isZero();
        assertThat(map.volumes()).isEmpty();
        assertThat(map.contains(7, 0)).isFalse();
        assertThat(Runs.of(map, 7)).isEmpty();
        assertThat(map.coveredThrough()).isEqualTo(Position.ZERO);
    }

    @Test
    void aByteRangeMarksEveryBlockItTouches() {
        map.add(1, 4096, 4096); // exactly block 1
        assertThat(Runs.of(map, 1)).containsExactly(new Runs(1, 1));

        map.add(2, 4095, 2); // last byte of block 0 and first of block 1
        assertThat(Runs.of(map, 2)).containsExactly(new Runs(0, 2));

        map.add(3, 10 * 4096 + 100, 512); // inside block 10
        assertThat(Runs.of(map, 3)).containsExactly(new Runs(10, 1));

        map.add(4, 5 * 4096 + 1, 3 * 4096); // 5 (partial), 6, 7, 8 (partial)
        assertThat(Runs.of(map, 4)).containsExactly(new Runs(5, 4));
        assertThat(map.contains(4, 4)).isFalse();
        assertThat(map.contains(4, 9)).isFalse();

        map.add(5, 0, 1);
        assertThat(Runs.of(map, 5)).containsExactly(new Runs(0, 1));

        assertThat(map.blocks()).isEqualTo(1 + 2 + 1 + 4 + 1);
        assertThat(map.volumes()).containsExactly(1, 2, 3, 4, 5);
    }

    @Test
    void zeroLengthMarksNothing() {
        map.add(1, 12345, 0);
        map.add(1, 16 * TIB, 0); // the end of the largest volume is still a valid offset
        map.addBlocks(1, 99, 0);
        assertThat(map.blocks()).isZero();
        assertThat(map.volumes()).isEmpty();
    }

    @Test
    void aRangeCrossingManyBlocksAndContainersIsOneRun() {
        // 3 GiB from an unaligned offset: crosses many 65536-block containers of the bitmap.
        long offset = 7 * 4096 + 17;
        long length = 3L << 30;
        map.add(9, offset, length);
        long first = 7;
        long last = (offset + length - 1) / 4096;
        assertThat(map.blocks(9)).isEqualTo(last - first + 1);
        assertThat(Runs.of(map, 9)).containsExactly(new Runs(first, last - first + 1));
        assertThat(map.contains(9, first - 1)).isFalse();
        assertThat(map.contains(9, last + 1)).isFalse();
        assertThat(map.contains(9, 65536 * 3 + 5)).isTrue();
    }

    @Test
    void volumesNear16TiBUseTheUpperHalfOfTheUnsignedRange() {
        // Block numbers of 2^31 and above are negative as Java ints: they must still sort and run as unsigned.
        map.add(1, 16 * TIB - 8192 - 1, 2); // blocks 2^32-3 and 2^32-2
        map.addBlocks(1, 1L << 31, 2);
        map.addBlocks(1, 3, 1);
        assertThat(Runs.of(map, 1)).containsExactly(new Runs(3, 1), new Runs(1L << 31, 2), new Runs(LAST_BLOCK - 2, 2));
        assertThat(map.contains(1, LAST_BLOCK - 1)).isTrue();
        assertThat(map.contains(1, LAST_BLOCK)).isFalse();

        map.add(2, 16 * TIB - 1, 1); // the very last byte
        assertThat(Runs.of(map, 2)).containsExactly(new Runs(LAST_BLOCK, 1));
        map.remove(2, LAST_BLOCK);
        assertThat(map.volumes()).containsExactly(1);
    }

    @Test
    void aWhole16TiBVolumeIsOneRunOf2To32Blocks() {
        map.add(4, 0, 16 * TIB);
        assertThat(map.blocks(4)).isEqualTo(1L << 32);
        assertThat(Runs.of(map, 4)).containsExactly(new Runs(0, 1L << 32));
        map.remove(4, 0);
        map.remove(4, LAST_BLOCK);
        map.remove(4, 1L << 31);
        assertThat(map.blocks(4)).isEqualTo((1L << 32) - 3);
        assertThat(Runs.of(map, 4)).containsExactly(new Runs(1, (1L << 31) - 1), new Runs((1L << 31) + 1, (1L << 31) - 2));
    }

    @Test
    void rangesBeyond16TiBAreRefusedWithTheValues() {
        assertThatThrownBy(() -> map.add(3, 16 * TIB, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("volume 3").hasMessageContaining("offset " + 16 * TIB).hasMessageContaining("16 TiB");
        assertThatThrownBy(() -> map.add(3, 16 * TIB - 4096, 4097)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("length 4097");
        assertThatThrownBy(() -> map.add(3, Long.MAX_VALUE, Long.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> map.add(3, -1, 1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset -1");
        assertThatThrownBy(() -> map.add(3, 0, -5)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("length -5");
        assertThatThrownBy(() -> map.addBlocks(3, LAST_BLOCK, 2)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2 blocks from block " + LAST_BLOCK);
        assertThatThrownBy(() -> map.addBlocks(3, -1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> map.remove(3, 1L << 32)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("block " + (1L << 32));
        assertThatThrownBy(() -> map.contains(3, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(map.blocks()).as("nothing was marked by a refused call").isZero();
        map.addBlocks(3, LAST_BLOCK, 1); // the last block itself is fine
        assertThat(map.blocks(3)).isEqualTo(1);
    }

    @Test
    void removeClearsOneBlockAndEmptyVolumesDisappear() {
        map.addBlocks(1, 10, 3);
        map.remove(1, 11);
        assertThat(Runs.of(map, 1)).containsExactly(new Runs(10, 1), new Runs(12, 1));
        map.remove(1, 99); // absent: nothing happens
        map.remove(42, 0); // unknown volume: nothing happens
        map.remove(1, 10);
        map.remove(1, 12);
        assertThat(map.volumes()).isEmpty();
        assertThat(map.blocks()).isZero();
    }

    @Test
    void clearEmptiesEverything() {
        map.addBlocks(1, 0, 100);
        map.addBlocks(2, 0, 100);
        map.clear();
        assertThat(map.blocks()).isZero();
        assertThat(map.volumes()).isEmpty();
    }

    @Test
    void theRunConsumerMayChangeTheMap() {
        map.addBlocks(1, 0, 4);
        map.addBlocks(1, 10, 4);
        List<Runs> seen = new ArrayList<>();
        map.forEachRun(1, (first, count) -> {
            seen.add(new Runs(first, count));
            for (long b = first; b < first + count; b++) {
                map.remove(1, b); // a catch-up pass clears what it copied
            }
        });
        assertThat(seen).containsExactly(new Runs(0, 4), new Runs(10, 4));
        assertThat(map.blocks()).isZero();
    }

    /** Random operations against a plain set of block numbers, including the top of the unsigned range. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 20260101})
    void agreesWithASimpleModel(long seed) {
        Random rnd = new Random(seed);
        TreeMap<Integer, TreeSet<Long>> model = new TreeMap<>();
        for (int i = 0; i < 3000; i++) {
            int volume = rnd.nextInt(3);
            long base = rnd.nextBoolean() ? rnd.nextInt(2000) : LAST_BLOCK - rnd.nextInt(2000);
            switch (rnd.nextInt(4)) {
                case 0 -> {
                    long offset = base * 4096 + rnd.nextInt(4096);
                    long length = Math.min(rnd.nextInt(5 * 4096), (1L << 44) - offset);
                    map.add(volume, offset, length);
                    for (long b = offset / 4096; length > 0 && b <= (offset + length - 1) / 4096; b++) {
                        model.computeIfAbsent(volume, k -> new TreeSet<>()).add(b);
                    }
                }
                case 1 -> {
                    long count = Math.min(rnd.nextInt(20), (1L << 32) - base);
                    map.addBlocks(volume, base, count);
                    for (long b = base; b < base + count; b++) {
                        model.computeIfAbsent(volume, k -> new TreeSet<>()).add(b);
                    }
                }
                default -> {
                    map.remove(volume, base);
                    TreeSet<Long> s = model.get(volume);
                    if (s != null) {
                        s.remove(base);
                    }
                }
            }
        }
        model.values().removeIf(TreeSet::isEmpty);
        assertThat(model).as("the sequence exercised something").isNotEmpty();
        assertThat(map.volumes()).containsExactlyElementsOf(model.keySet());
        long total = 0;
        for (var e : model.entrySet()) {
            assertThat(map.blocks(e.getKey())).isEqualTo(e.getValue().size());
            assertThat(Runs.of(map, e.getKey())).isEqualTo(runsOf(e.getValue()));
            total += e.getValue().size();
            for (int probe = 0; probe < 200; probe++) {
                long b = rnd.nextBoolean() ? rnd.nextInt(2100) : LAST_BLOCK - rnd.nextInt(2100);
                assertThat(map.contains(e.getKey(), b)).isEqualTo(e.getValue().contains(b));
            }
        }
        assertThat(map.blocks()).isEqualTo(total);
    }

    private static List<Runs> runsOf(TreeSet<Long> blocks) {
        List<Runs> out = new ArrayList<>();
        long first = -1;
        long prev = -2;
        for (long b : blocks) {
            if (b != prev + 1) {
                if (first >= 0) {
                    out.add(new Runs(first, prev - first + 1));
                }
                first = b;
            }
            prev = b;
        }
        if (first >= 0) {
            out.add(new Runs(first, prev - first + 1));
        }
        return out;
    }
}
