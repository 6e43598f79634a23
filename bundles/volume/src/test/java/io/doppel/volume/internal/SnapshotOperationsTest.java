package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static io.doppel.volume.internal.Fixture.POOL;
import static io.doppel.volume.internal.Fixture.assertImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;

import org.junit.jupiter.api.Test;

class SnapshotOperationsTest {

    private static byte[] block(int value) {
        byte[] b = new byte[BS];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static void writeBlocks(Volume v, int first, int count, int value) throws IOException {
        for (int i = 0; i < count; i++) {
            v.write(ByteBuffer.wrap(block(value)), (long) (first + i) * BS);
        }
    }

    private static long preserved(Volume v, String snapshot) {
        return v.snapshots().stream().filter(s -> s.name().equals(snapshot)).findFirst().orElseThrow()
                .preservedBytes();
    }

    @Test
    void deletingASnapshotHandsItsBlocksToTheOlderOne() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 8 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                writeBlocks(v, 0, 8, 1);
                byte[] image1 = Fixture.read(v);
                v.createSnapshot("s1");
                writeBlocks(v, 0, 4, 2); // s1 preserves 0..3
                byte[] image2 = Fixture.read(v);
                v.createSnapshot("s2");
                writeBlocks(v, 2, 4, 3); // s2 preserves 2..5; s1 reads 4 and 5 through s2
                assertThat(preserved(v, "s1")).isEqualTo(4L * BS);
                assertThat(preserved(v, "s2")).isEqualTo(4L * BS);

                v.deleteSnapshot("s2");
                // 4 and 5 were handed down; 2 and 3 s1 had of its own.
                assertThat(preserved(v, "s1")).isEqualTo(6L * BS);
                assertImage(Fixture.readSnapshot(v, "s1"), image1, "s1 after s2 was deleted");
                assertThat(fx.sim.exists(POOL.resolve("v/snap-2.data"))).isFalse();
                assertThat(fx.sim.exists(POOL.resolve("v/snap-2.log"))).isFalse();
                assertThat(image2).isNotEqualTo(image1);
            }
            fx.restart();
            try (Volume v = fx.manager.open("v")) {
                assertThat(v.snapshots()).extracting(SnapshotInfo::name).containsExactly("s1");
                assertThat(preserved(v, "s1")).isEqualTo(6L * BS);
            }
        }
    }

    @Test
    void deletingTheOldestSnapshotKeepsTheNewerOnesIntact() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 4 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                writeBlocks(v, 0, 4, 1);
                v.createSnapshot("s1");
                writeBlocks(v, 0, 2, 2);
                byte[] image2 = Fixture.read(v);
                v.createSnapshot("s2");
                writeBlocks(v, 1, 3, 3);
                v.deleteSnapshot("s1");
                assertImage(Fixture.readSnapshot(v, "s2"), image2, "s2");
                assertThat(preserved(v, "s2")).isEqualTo(3L * BS);
            }
        }
    }

    @Test
    void rollbackRestoresTheImageAndKeepsNewerSnapshots() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 6 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                writeBlocks(v, 0, 6, 1);
                byte[] image1 = Fixture.read(v);
                v.createSnapshot("s1");
                writeBlocks(v, 0, 3, 2);
                byte[] image2 = Fixture.read(v);
                v.createSnapshot("s2");
                writeBlocks(v, 2, 3, 3);
                v.writeZeroes(5L * BS, BS);
                byte[] current = Fixture.read(v);

                v.rollback("s1");
                assertImage(Fixture.read(v), image1, "volume after rollback to s1");
                assertImage(Fixture.readSnapshot(v, "s1"), image1, "s1");
                assertImage(Fixture.readSnapshot(v, "s2"), image2, "s2");
                // The state before the rollback is gone unless a snapshot kept it: a control that it changed.
                assertThat(current).isNotEqualTo(image1);

                v.rollback("s2");
                assertImage(Fixture.read(v), image2, "volume after rollback to s2");
                assertImage(Fixture.readSnapshot(v, "s1"), image1, "s1 after the second rollback");
            }
            fx.restart();
            try (Volume v = fx.manager.open("v")) {
                assertThat(v.snapshots()).extracting(SnapshotInfo::name).containsExactly("s1", "s2");
            }
        }
    }

    @Test
    void rollbackToASmallerSnapshotShrinksAndNewerSnapshotsKeepTheirTail() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 4 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                writeBlocks(v, 0, 4, 1);
                byte[] small = Fixture.read(v);
                v.createSnapshot("small");
                v.resize(8 * BS);
                writeBlocks(v, 4, 4, 2);
                byte[] big = Fixture.read(v);
                v.createSnapshot("big");
                writeBlocks(v, 0, 8, 3);

                v.rollback("small");
                assertThat(v.size()).isEqualTo(4L * BS);
                assertThat(fx.manager.find("v").orElseThrow().size()).isEqualTo(4L * BS);
                assertImage(Fixture.read(v), small, "volume after rollback to small");
                assertImage(Fixture.readSnapshot(v, "big"), big, "big after the volume shrank");

                // Grow again: the new tail reads as zeros, and "big" still has its own.
                v.resize(8 * BS);
                byte[] grown = Arrays.copyOf(small, 8 * BS);
                assertImage(Fixture.read(v), grown, "volume grown again");
                writeBlocks(v, 6, 2, 4);
                assertImage(Fixture.readSnapshot(v, "big"), big, "big after writes past its old tail");

                v.rollback("big");
                assertImage(Fixture.read(v), big, "volume after rollback to big");
                assertImage(Fixture.readSnapshot(v, "small"), small, "small");
            }
        }
    }

    @Test
    void shrinkingIsRefusedAndGrowingIsPersisted() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 4 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                writeBlocks(v, 3, 1, 9);
                assertThatThrownBy(() -> v.resize(2 * BS)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("cannot shrink volume v from 16384 to 8192 bytes: volumes only grow");
                assertThatThrownBy(() -> v.resize(5 * BS + 1)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("positive multiple of 4096");
                v.resize(4 * BS); // same size: nothing to do
                v.resize(10 * BS);
                assertThat(v.size()).isEqualTo(10L * BS);
                assertThat(v.info().size()).isEqualTo(10L * BS);
                ByteBuffer tail = ByteBuffer.allocate(6 * BS);
                v.read(tail, 4L * BS);
                assertThat(tail.array()).containsOnly(0);
            }
            fx.restart();
            assertThat(fx.manager.find("v").orElseThrow().size()).isEqualTo(10L * BS);
            try (Volume v = fx.manager.open("v")) {
                ByteBuffer b = ByteBuffer.allocate(BS);
                v.read(b, 3L * BS);
                assertThat(b.array()).containsOnly(9);
            }
        }
    }

    @Test
    void writeZeroesKeepsHolesAndTheSnapshotStoreThin() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 64L << 20, "g");
            try (Volume v = fx.manager.open("v")) {
                long before = fx.sim.usedBytes();
                v.writeZeroes(0, 64L << 20);
                assertThat(fx.sim.usedBytes()).as("zeroing an unwritten volume allocates nothing").isEqualTo(before);

                v.createSnapshot("s");
                long withSnapshot = fx.sim.usedBytes();
                v.writeZeroes(BS, 32L << 20);
                assertThat(fx.sim.usedBytes()).as("nor with a snapshot").isEqualTo(withSnapshot);
                assertThat(preserved(v, "s")).as("blocks that stay zero need no copy").isZero();

                // Control: a real write allocates, and zeroing it preserves the old data first.
                v.write(ByteBuffer.wrap(block(7)), 10L * BS);
                assertThat(fx.sim.usedBytes()).isGreaterThan(withSnapshot);
                v.writeZeroes(10L * BS - 100, BS + 200);
                ByteBuffer b = ByteBuffer.allocate(BS + 200);
                v.read(b, 10L * BS - 100);
                assertThat(b.array()).containsOnly(0);
                ByteBuffer s = ByteBuffer.allocate(BS);
                v.readSnapshot("s", s, 10L * BS);
                assertThat(s.array()).containsOnly(0); // the snapshot predates the write
            }
        }
    }

    @Test
    void writeZeroesWritesAtMostOneMebibyteAtATime() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 8L << 20, "g");
            try (Volume v = fx.manager.open("v")) {
                byte[] ones = new byte[6 << 20];
                Arrays.fill(ones, (byte) 1);
                v.write(ByteBuffer.wrap(ones), 0);
                v.createSnapshot("s");
                fx.storage.largestDataWrite.set(0);
                fx.storage.dataWrites.set(0);
                v.writeZeroes(100, (6L << 20) - 200);
                assertThat(fx.storage.largestDataWrite.get()).isLessThanOrEqualTo(1 << 20);
                assertThat(fx.storage.dataWrites.get()).isGreaterThanOrEqualTo(6);
                ByteBuffer all = ByteBuffer.allocate(6 << 20);
                v.read(all, 0);
                byte[] a = all.array();
                assertThat(Arrays.copyOfRange(a, 100, (6 << 20) - 100)).containsOnly(0);
                assertThat(a[99]).isEqualTo((byte) 1);
                assertThat(a[(6 << 20) - 100]).isEqualTo((byte) 1);
                assertThat(preserved(v, "s")).isEqualTo(6L << 20);
            }
        }
    }

    @Test
    void oneWriteOverManyBlocksCopiesThemInOneBatch() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 64 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                v.write(ByteBuffer.wrap(Fixture.random(new Random(1), 64 * BS)), 0);
                v.createSnapshot("s");
                long forces = fx.sim.forces();
                v.write(ByteBuffer.wrap(new byte[40 * BS]), 10L * BS + 5);
                assertThat(fx.sim.forces() - forces).as("one force of the store and one of the log").isEqualTo(2);
                assertThat(preserved(v, "s")).isEqualTo(41L * BS);
                forces = fx.sim.forces();
                v.write(ByteBuffer.wrap(new byte[10 * BS]), 12L * BS);
                assertThat(fx.sim.forces()).as("blocks already preserved need nothing").isEqualTo(forces);
            }
        }
    }

    @Test
    void aTornLogTailIsCutAndTheRestKept() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 8 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                v.createSnapshot("s");
                writeBlocks(v, 0, 3, 5);
            }
            fx.manager.close();
            Path log = POOL.resolve("v/snap-1.log");
            long size = fx.sim.readAll(log).length;
            assertThat(size).isEqualTo(SnapshotStore.HEADER + 3L * SnapshotStore.ENTRY);
            fx.sim.overwrite(log, size, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9}); // half an entry
            fx.manager = fx.start();
            try (Volume v = fx.manager.open("v")) {
                assertThat(preserved(v, "s")).isEqualTo(3L * BS);
                assertThat(Fixture.readSnapshot(v, "s")).containsOnly(0);
            }
            assertThat(fx.sim.readAll(log)).hasSize((int) size);
        }
    }

    @Test
    void aDamagedOrUnknownLogIsRefusedNamingTheFile() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 8 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                v.createSnapshot("s");
            }
            Path log = POOL.resolve("v/snap-1.log");
            fx.sim.flipBit(log, 13, 0);
            assertThatThrownBy(() -> fx.manager.open("v")).isInstanceOf(IOException.class)
                    .hasMessageContaining(log.toString()).hasMessageContaining("header CRC32C mismatch");
            fx.sim.flipBit(log, 13, 0);
            fx.manager.open("v").close(); // control: repaired, it opens
            fx.sim.overwrite(log, 4, new byte[] {0, 0, 0, 2});
            assertThatThrownBy(() -> fx.manager.open("v")).isInstanceOf(IOException.class)
                    .hasMessageContaining(log.toString()).hasMessageContaining("version 2")
                    .hasMessageContaining("version 1");
            fx.sim.deleteIfExists(log);
            assertThatThrownBy(() -> fx.manager.open("v")).isInstanceOf(IOException.class)
                    .hasMessageContaining("snapshot s of volume v").hasMessageContaining("is missing");
        }
    }

    @Test
    void filesOfUnregisteredSnapshotsAreRemovedOnOpen() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 2 * BS, "g");
            fx.sim.open(POOL.resolve("v/snap-7.data"), true).close();
            fx.sim.open(POOL.resolve("v/snap-7.log"), true).close();
            fx.sim.open(POOL.resolve("v/notes.txt"), true).close();
            fx.manager.open("v").close();
            assertThat(fx.sim.exists(POOL.resolve("v/snap-7.data"))).isFalse();
            assertThat(fx.sim.exists(POOL.resolve("v/snap-7.log"))).isFalse();
            assertThat(fx.sim.exists(POOL.resolve("v/notes.txt"))).as("not ours: kept").isTrue();
        }
    }

    @Test
    void concurrentWritersOnDisjointBlocksKeepTheSnapshotIntact() throws Exception {
        try (Fixture fx = new Fixture()) {
            int threads = 4;
            int perThread = 16;
            fx.manager.create("v", (long) threads * perThread * BS, "g");
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try (Volume v = fx.manager.open("v")) {
                byte[] before = Fixture.random(new Random(3), threads * perThread * BS);
                v.write(ByteBuffer.wrap(before), 0);
                v.createSnapshot("s");
                byte[] expected = before.clone();
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int first = t * perThread;
                    byte[] data = Fixture.random(new Random(100 + t), perThread * BS);
                    System.arraycopy(data, 0, expected, first * BS, data.length);
                    done.add(pool.submit(() -> {
                        for (int i = perThread - 1; i >= 0; i--) {
                            v.write(ByteBuffer.wrap(data, i * BS, BS), (long) (first + i) * BS);
                            if (i % 5 == 0) {
                                v.writeZeroes((long) (first + i) * BS, 0);
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get(30, TimeUnit.SECONDS);
                }
                assertImage(Fixture.read(v), expected, "volume");
                assertImage(Fixture.readSnapshot(v, "s"), before, "snapshot");
                assertThat(preserved(v, "s")).isEqualTo((long) threads * perThread * BS);
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
