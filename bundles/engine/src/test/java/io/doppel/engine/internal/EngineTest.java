package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.IoError;
import io.doppel.api.group.GroupInfo;
import io.doppel.journal.internal.JournalSettings;
import io.doppel.testkit.SimulatedStorage;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EngineTest {

    private static final long VOL = 1 << 20;
    private static final JournalSettings SMALL_JOURNAL = EngineFixture.journalSettings(2L << 20, 8L << 20);

    private static byte[] readAll(BlockDevice d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        d.read(0, b);
        return b.array();
    }

    private static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    @Test
    void firstStartMakesTheDefaultGroupAndVolumeOnce() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        try (EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL)) {
            assertThat(f.engine.groups()).extracting(GroupInfo::name).containsExactly("default");
            assertThat(f.engine.group("default").orElseThrow().volumes()).containsExactly("vol0");
            assertThat(f.engine.group("default").orElseThrow().state()).isEqualTo("serving");
            f.engine.deleteVolume("vol0");
        }
        // A deleted first-start volume is not made again on the next start.
        try (EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL)) {
            assertThat(f.engine.group("default").orElseThrow().volumes()).isEmpty();
        }
    }

    @Test
    void writesReadBackIncludingUnalignedZeroAndTrim() throws Exception {
        try (EngineFixture f = new EngineFixture(new SimulatedStorage(), EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice d = f.engine.open("vol0", false)) {
            DurabilityModel model = new DurabilityModel(VOL);
            Random rnd = new Random(1);
            byte[] a = random(rnd, 5000);
            d.write(1000, ByteBuffer.wrap(a), false);
            model.completed(1000, a, a.length, false);
            byte[] b = random(rnd, 10_000);
            d.write(3000, ByteBuffer.wrap(b), true);
            model.completed(3000, b, b.length, true);
            d.writeZeroes(4096, 4096, false);
            model.completed(4096, null, 4096, false);
            d.trim(12_000, 100, false);
            model.completed(12_000, null, 100, false);
            d.flush();
            assertThat(readAll(d)).isEqualTo(model.latestImage());
        }
    }

    @Test
    void badRequestsNameTheProblem() throws Exception {
        try (EngineFixture f = new EngineFixture(new SimulatedStorage(), EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice rw = f.engine.open("vol0", false);
             BlockDevice ro = f.engine.open("vol0", true)) {
            assertThatThrownBy(() -> rw.write(VOL - 10, ByteBuffer.allocate(20), false))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.ENOSPC))
                    .hasMessageContaining("outside vol0");
            assertThatThrownBy(() -> rw.read(VOL, ByteBuffer.allocate(1)))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.EINVAL));
            assertThatThrownBy(() -> ro.write(0, ByteBuffer.allocate(1), false))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.EPERM));
            assertThatThrownBy(() -> f.engine.open("nope", false)).hasMessageContaining("volume nope does not exist");
            assertThatThrownBy(() -> f.engine.createVolume("v2", VOL, "nogroup")).hasMessageContaining("group nogroup does not exist");
            assertThatThrownBy(() -> f.engine.growVolume("vol0", VOL - 4096)).hasMessageContaining("must be larger");
            // The device still works after every refusal.
            rw.write(0, ByteBuffer.wrap(new byte[] {7}), true);
        }
    }

    /** Runs a random workload; returns the model of what was acknowledged. */
    private static DurabilityModel workload(EngineFixture f, BlockDevice d, Random rnd, int ops, byte[] initial)
            throws IOException {
        DurabilityModel model = new DurabilityModel(initial);
        for (int i = 0; i < ops; i++) {
            int op = rnd.nextInt(100);
            boolean fua = rnd.nextInt(5) == 0;
            int len = 1 + rnd.nextInt(rnd.nextBoolean() ? 4096 : 16_384);
            long off = rnd.nextInt((int) (VOL - len));
            if (rnd.nextInt(3) == 0) {
                off = off / 4096 * 4096; // aligned writes too
            }
            if (op < 70) {
                byte[] data = random(rnd, len);
                d.write(off, ByteBuffer.wrap(data), fua);
                model.completed(off, data, len, fua);
            } else if (op < 80) {
                d.writeZeroes(off, len, fua);
                model.completed(off, null, len, fua);
            } else if (op < 85) {
                d.trim(off, len, fua);
                model.completed(off, null, len, fua);
            } else if (op < 97) {
                d.flush();
                model.flushed();
            } else {
                f.engine.checkpoint("default");
            }
        }
        return model;
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
        21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40})
    void aPowerCutKeepsEveryFlushedOrFuaWrite(long seed) throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        Random rnd = new Random(seed);
        byte[] image = new byte[(int) VOL];
        for (int round = 0; round < 2; round++) {
            EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
            DurabilityModel model;
            try (BlockDevice d = f.engine.open("vol0", false)) {
                assertThat(readAll(d)).isEqualTo(image);
                model = workload(f, d, rnd, 250, image);
            }
            storage.simulatePowerCut(seed * 31 + round);
            f.abandon();
            try (EngineFixture g = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
                 BlockDevice d = g.engine.open("vol0", false)) {
                image = readAll(d);
                assertThat(model.check(image)).as("seed %d round %d", seed, round).isNull();
                assertThat(g.engine.group("default").orElseThrow().state()).isEqualTo("serving");
                g.engine.checkpoint("default");
            }
        }
    }

    @Test
    void negativeControlAPowerCutDoesLoseUnflushedWritesAndTheCheckSeesIt() throws Exception {
        int caught = 0;
        for (long seed = 1; seed <= 10; seed++) {
            SimulatedStorage storage = new SimulatedStorage();
            Random rnd = new Random(seed);
            EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
            DurabilityModel model;
            try (BlockDevice d = f.engine.open("vol0", false)) {
                model = workload(f, d, rnd, 250, new byte[(int) VOL]);
            }
            model.flushed(); // claim everything was durable although the tail was not flushed
            storage.simulatePowerCut(seed);
            f.abandon();
            try (EngineFixture g = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
                 BlockDevice d = g.engine.open("vol0", false)) {
                if (model.check(readAll(d)) != null) {
                    caught++;
                }
            }
        }
        assertThat(caught).as("seeds where the over-claiming model was caught").isPositive();
    }

    @Test
    void aKilledProcessLosesNoCompletedWrite() throws Exception {
        // SIGKILL: the process dies, the OS keeps every completed file write (no power cut).
        SimulatedStorage storage = new SimulatedStorage();
        EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
        DurabilityModel model;
        try (BlockDevice d = f.engine.open("vol0", false)) {
            model = workload(f, d, new Random(99), 400, new byte[(int) VOL]);
        }
        f.abandon();
        try (EngineFixture g = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice d = g.engine.open("vol0", false)) {
            assertThat(readAll(d)).isEqualTo(model.latestImage());
        }
    }

    @Test
    void updatingTheVolumeAndJournalServicesUnderLoadFailsNoWrite() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        int threads = 4;
        int blocks = (int) (VOL / 4096);
        try (EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL)) {
            byte[][] expected = new byte[blocks][];
            List<Throwable> failures = new CopyOnWriteArrayList<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong writes = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                done.add(pool.submit(() -> {
                    Random rnd = new Random(me);
                    try (BlockDevice d = f.engine.open("vol0", false)) {
                        while (!stop.get()) {
                            int blk = rnd.nextInt(blocks / threads) * threads + me; // disjoint blocks per thread
                            byte[] data = random(rnd, 4096);
                            d.write((long) blk * 4096, ByteBuffer.wrap(data), rnd.nextInt(10) == 0);
                            expected[blk] = data;
                            writes.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (int swap = 0; swap < 3; swap++) {
                awaitProgress(writes, failures);
                f.swapVolumeService();
                awaitProgress(writes, failures);
                f.swapJournalService(SMALL_JOURNAL);
            }
            awaitProgress(writes, failures);
            stop.set(true);
            for (Future<?> x : done) {
                x.get(30, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertThat(failures).isEmpty();
            try (BlockDevice d = f.engine.open("vol0", true)) {
                byte[] img = readAll(d);
                for (int b = 0; b < blocks; b++) {
                    byte[] want = expected[b] == null ? new byte[4096] : expected[b];
                    assertThat(ByteBuffer.wrap(img, b * 4096, 4096)).as("block %d", b).isEqualTo(ByteBuffer.wrap(want));
                }
            }
        }
    }

    /** Waits for 200 more writes; on a stall, fails with every thread's stack so the cause shows. */
    private static void awaitProgress(AtomicLong writes, List<Throwable> failures) {
        long before = writes.get();
        try {
            Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> writes.get() > before + 200 || !failures.isEmpty());
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            StringBuilder dump = new StringBuilder("writes stalled at " + writes.get() + "; threads:\n");
            Thread.getAllStackTraces().forEach((t, st) -> {
                dump.append(t.getName()).append(' ').append(t.getState()).append('\n');
                for (StackTraceElement el : st) {
                    dump.append("    at ").append(el).append('\n');
                }
            });
            throw new AssertionError(dump.toString(), e);
        }
        assertThat(failures).isEmpty();
    }

    @Test
    void ioIsHeldWhileAServiceIsAbsentAndFailsAfterTheTimeout() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        EngineSettings quick = new EngineSettings(EngineFixture.ROOT, 300, 3_600_000, "default", "vol0", VOL);
        try (EngineFixture f = new EngineFixture(storage, quick).start(SMALL_JOURNAL);
             BlockDevice d = f.engine.open("vol0", false)) {
            f.engine.journalService(null);
            assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(10), false))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.EIO))
                    .hasMessageContaining("journal service absent");
            f.engine.journalService(f.journals = f.newJournalService(SMALL_JOURNAL));
            f.awaitServing();
            d.write(0, ByteBuffer.wrap(new byte[] {42}), true);
        }
    }

    @Test
    void aFullDiskStallsWritesWithEnospcAndTheyResumeWhenSpaceReturns() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        try (EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice d = f.engine.open("vol0", false)) {
            byte[] first = new byte[4096];
            java.util.Arrays.fill(first, (byte) 1);
            d.write(0, ByteBuffer.wrap(first), true);
            // The journal prepares its next segment in the background: once that is done, no byte
            // more, so the next volume page cannot be allocated (journal segments are preallocated).
            java.nio.file.Path journalDir = EngineFixture.ROOT.resolve("journals").resolve("default");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> {
                java.util.List<java.nio.file.Path> files = storage.list(journalDir);
                return files.stream().noneMatch(p -> p.toString().endsWith(".tmp"))
                        && files.stream().filter(p -> p.getFileName().toString().startsWith("segment-")).count() >= 2;
            });
            storage.capacity(storage.usedBytes());
            byte[] second = new byte[4096];
            java.util.Arrays.fill(second, (byte) 2);
            assertThatThrownBy(() -> d.write(512 * 1024, ByteBuffer.wrap(second), false))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.ENOSPC))
                    .hasMessageContaining("No space left");
            assertThat(f.engine.group("default").orElseThrow().state()).isEqualTo("stalled");
            assertThatThrownBy(() -> d.write(0, ByteBuffer.wrap(second), false))
                    .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.error()).isEqualTo(IoError.ENOSPC))
                    .hasMessageContaining("stalled");
            // Acknowledged data is intact and reads go on.
            ByteBuffer r = ByteBuffer.allocate(4096);
            d.read(0, r);
            assertThat(r.array()).isEqualTo(first);
            storage.capacity(Long.MAX_VALUE);
            Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> f.engine.group("default").orElseThrow().state().equals("serving"));
            ByteBuffer r2 = ByteBuffer.allocate(4096);
            d.read(512 * 1024, r2);
            assertThat(r2.array()).as("the journaled write was applied by the retry").isEqualTo(second);
            d.write(0, ByteBuffer.wrap(second), true);
        }
    }

    @Test
    void snapshotsRollbackAndGrowGoThroughTheWritePath() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        try (EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL)) {
            f.engine.createVolume("vol1", VOL, "default");
            byte[] a = new byte[8192];
            java.util.Arrays.fill(a, (byte) 'a');
            byte[] b = new byte[8192];
            java.util.Arrays.fill(b, (byte) 'b');
            try (BlockDevice d = f.engine.open("vol0", false)) {
                d.write(0, ByteBuffer.wrap(a), false);
                f.engine.snapshot("vol0", "s1");
                d.write(0, ByteBuffer.wrap(b), false);
                try (BlockDevice s = f.engine.openSnapshot("vol0", "s1")) {
                    ByteBuffer r = ByteBuffer.allocate(8192);
                    s.read(0, r);
                    assertThat(r.array()).isEqualTo(a);
                    assertThatThrownBy(() -> s.write(0, ByteBuffer.allocate(1), false)).hasMessageContaining("read-only");
                }
                assertThat(f.engine.snapshotGroup("default", "g1")).hasSize(2);
                assertThatThrownBy(() -> f.engine.rollback("vol0", "s1")).hasMessageContaining("open read-write by 1");
            }
            f.engine.rollback("vol0", "s1");
            try (BlockDevice d = f.engine.open("vol0", true)) {
                ByteBuffer r = ByteBuffer.allocate(8192);
                d.read(0, r);
                assertThat(r.array()).isEqualTo(a);
            }
            f.engine.growVolume("vol0", 2 * VOL);
            try (BlockDevice d = f.engine.open("vol0", false)) {
                assertThat(d.size()).isEqualTo(2 * VOL);
                d.write(2 * VOL - 4096, ByteBuffer.wrap(new byte[4096]), true);
            }
        }
        // After a crash (no checkpoint), the rollback and the new size stay.
        storage.simulatePowerCut(5);
        try (EngineFixture g = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice d = g.engine.open("vol0", true)) {
            assertThat(d.size()).isEqualTo(2 * VOL);
            ByteBuffer r = ByteBuffer.allocate(8192);
            d.read(0, r);
            assertThat(r.array()).containsOnly('a');
        }
    }

    @Test
    void overlappingWritesFromManyThreadsReachTheVolumeInSeqOrder() throws Exception {
        // Six threads write overlapping unaligned ranges. Redo re-applies the journal in seq
        // order, so if the volume had received the writes in another order, the image after a
        // crash and redo would differ from the image before it.
        SimulatedStorage storage = new SimulatedStorage();
        EngineFixture f = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
        ExecutorService pool = Executors.newFixedThreadPool(6);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            int me = t;
            futures.add(pool.submit(() -> {
                Random rnd = new Random(me);
                try (BlockDevice d = f.engine.open("vol0", false)) {
                    for (int i = 0; i < 300; i++) {
                        byte[] data = new byte[1 + rnd.nextInt(3 * 4096)];
                        java.util.Arrays.fill(data, (byte) (me * 40 + i % 40));
                        d.write(rnd.nextInt(6 * 4096), ByteBuffer.wrap(data), false);
                    }
                }
                return null;
            }));
        }
        for (Future<?> x : futures) {
            x.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();
        byte[] before;
        try (BlockDevice d = f.engine.open("vol0", true)) {
            before = readAll(d);
        }
        f.abandon();
        try (EngineFixture g = new EngineFixture(storage, EngineFixture.settings("vol0", VOL)).start(SMALL_JOURNAL);
             BlockDevice d = g.engine.open("vol0", true)) {
            assertThat(readAll(d)).isEqualTo(before);
        }
    }
}
