package io.doppel.engine.internal;

import io.doppel.bitmap.internal.DifferenceMapStore;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.journal.Position;
import io.doppel.api.pair.PairInfo;
import io.doppel.journal.internal.JournalSettings;
import io.doppel.testkit.SimulatedStorage;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Two sites in one JVM over a loopback network: pairs, modes, cuts, overflow, crashes. */
class ReplicationTest {

    private static final long VOL = 4 << 20;
    private static final JournalSettings JOURNAL = EngineFixture.journalSettings(2L << 20, 16L << 20);

    private final LoopbackNet net = new LoopbackNet();
    private ReplicationSite a;
    private ReplicationSite b;
    private ReplicationSite c;

    @AfterEach
    void tearDown() {
        for (ReplicationSite s : new ReplicationSite[] {a, b, c}) {
            if (s != null) {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    // best effort
                }
            }
        }
        net.close();
    }

    private void startBoth(JournalSettings js) throws Exception {
        a = new ReplicationSite("A", net, new SimulatedStorage(), js, VOL).start();
        b = new ReplicationSite("B", net, new SimulatedStorage(), js, VOL).start();
    }

    private static void awaitState(ReplicationSite s, String peer, String state) {
        try {
            Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> state.equals(s.pair(peer).state()));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError(s.name + "'s pair with " + peer + " never became " + state + ": " + s.repl.pairs(), e);
        }
    }

    /** Both sites with the ALLOW failover policy and a pair A to B in {@code mode}, in sync or replicating. */
    private void startPairWithPolicies(String mode) throws Exception {
        startBoth(JOURNAL);
        a.repl.policyAdded(ALLOW);
        b.repl.policyAdded(ALLOW);
        boolean sync = "sync".equals(mode);
        a.repl.create("default", "B", mode, sync ? "continue" : "");
        awaitState(a, "B", sync ? "in-sync" : "replicating");
    }

    /** Writes every block of the site's volume with random data, 64 KiB at a time. */
    private static void fillWithRandomData(ReplicationSite s, long seed) throws Exception {
        try (BlockDevice d = s.device()) {
            Random rnd = new Random(seed);
            for (long off = 0; off < VOL; off += 64 << 10) {
                byte[] data = new byte[64 << 10];
                rnd.nextBytes(data);
                d.write(off, ByteBuffer.wrap(data), false);
            }
        }
    }

    /** Random 4 KiB writes; returns the blocks written. */
    private static Set<Long> write(BlockDevice d, Random rnd, int count, boolean someFua) throws Exception {
        Set<Long> blocks = new HashSet<>();
        for (int i = 0; i < count; i++) {
            long block = rnd.nextInt((int) (VOL / 4096));
            byte[] data = new byte[4096];
            rnd.nextBytes(data);
            d.write(block * 4096, ByteBuffer.wrap(data), someFua && rnd.nextInt(8) == 0);
            blocks.add(block);
        }
        return blocks;
    }

    @Test
    void aSyncPairHasEveryWriteInThePeersJournalBeforeItIsAcknowledged() throws Exception {
        startBoth(JOURNAL);
        try (BlockDevice d = a.device()) {
            write(d, new Random(1), 50, false); // data before the pair: the initial copy carries it
        }
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        Random rnd = new Random(2);
        try (BlockDevice d = a.device()) {
            assertThat(d.fastWrites()).as("a sync group's writes wait for the peer").isFalse();
            for (int i = 0; i < 300; i++) {
                byte[] data = new byte[1 + rnd.nextInt(9000)];
                rnd.nextBytes(data);
                d.write(rnd.nextInt((int) VOL - data.length), ByteBuffer.wrap(data), rnd.nextInt(5) == 0);
                assertThat(b.head()).as("write %d acknowledged before the peer journaled it", i).isEqualTo(a.head());
            }
            d.flush();
            assertThat(b.group().journal.durable()).isEqualTo(a.head());
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
        assertThat(b.pair("A").consistent()).isTrue();
        // Hosts may not write to the copy.
        try (BlockDevice d = b.device()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(4096), false))
                    .hasMessageContaining("is a replica");
        }
    }

    @Test
    void anAsyncPairPullsAndConverges() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        // a group never written: its initial copy alone makes the copy consistent (nothing to apply)
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").consistent());
        try (BlockDevice d = a.device()) {
            assertThat(d.fastWrites()).isTrue();
            write(d, new Random(3), 500, true);
            d.trim(0, 8192, false);
            d.writeZeroes(65536, 4096 * 3, false);
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aWriteAcknowledgedBeforeASyncPeerFirstCaughtUpMarksItOutdatedFirst() throws Exception {
        startBoth(JOURNAL);
        net.cut("A", "B");
        a.repl.create("default", "B", "sync", "continue");
        assertThat(a.pair("B").outdated()).as("nothing written yet: nothing lacked").isFalse();
        try (BlockDevice d = a.device()) {
            write(d, new Random(11), 1, false);
        }
        PairStore onDisk = new PairStore(a.storage, ReplicationSite.ROOT);
        onDisk.load();
        assertThat(onDisk.all().get(0).outdated()).as("Outdated is on disk once a write B lacks is acknowledged")
                .isTrue();
        net.heal("A", "B");
        awaitState(a, "B", "in-sync");
        assertThat(a.pair("B").outdated()).isFalse();
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aTargetVolumeOfAnotherSizeIsRefusedNamingBothSizes() throws Exception {
        a = new ReplicationSite("A", net, new SimulatedStorage(), JOURNAL, VOL).start();
        b = new ReplicationSite("B", net, new SimulatedStorage(), JOURNAL, VOL * 2).start();
        a.repl.create("default", "B", "async", "");
        Awaitility.await().atMost(Duration.ofSeconds(30))
                .until(() -> a.pair("B").detail().contains("is " + (VOL * 2) + " bytes here; the source's is " + VOL));
        assertThat(a.pair("B").state()).isNotIn("replicating", "in-sync");
        assertThat(b.image()).as("nothing was written to the wrong-sized volume").isEqualTo(new byte[(int) (VOL * 2)]);
    }

    @Test
    void aPairedVolumeGrowsOnlyAfterItsTargetGrew() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        a.engine.growVolume("vol0", VOL * 2);
        assertThat(b.group().volumes.values().iterator().next().size).isEqualTo(VOL * 2);
        try (BlockDevice d = a.device()) {
            write(d, new Random(12), 20, false);
            d.write(VOL * 2 - 4096, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 7), true);
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
        // without the peer, the volume does not grow
        net.cut("A", "B");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !"in-sync".equals(a.pair("B").state()));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.engine.growVolume("vol0", VOL * 3))
                .hasMessageContaining("is paired with B, which is not connected");
        assertThat(a.group().volumes.values().iterator().next().size).isEqualTo(VOL * 2);
    }

    @Test
    void aSyncSecondaryWithAFullJournalDelaysItsAnswersInsteadOfRefusing() throws Exception {
        a = new ReplicationSite("A", net, new SimulatedStorage(), EngineFixture.journalSettings(2L << 20, 64L << 20),
                VOL).start();
        b = new ReplicationSite("B", net, new SimulatedStorage(), EngineFixture.journalSettings(2L << 20, 4L << 20),
                VOL).start();
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        TargetPair target = b.repl.targetPairs().iterator().next();
        java.util.concurrent.CompletableFuture<Void> writer;
        // B's applier stops while A writes three times B's journal: B's journal fills
        target.applyLock.lock();
        try {
            writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
                try (BlockDevice d = a.device()) {
                    Random rnd = new Random(13);
                    for (long written = 0; written < 12L << 20; written += 64 << 10) {
                        byte[] data = new byte[64 << 10];
                        rnd.nextBytes(data);
                        d.write((long) rnd.nextInt((int) (VOL / data.length)) * data.length, ByteBuffer.wrap(data),
                                false);
                    }
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            // 4 MiB hold about 60 records of 64 KiB
            Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> b.head().seq() >= 60);
            long head = b.head().seq();
            Awaitility.await().pollDelay(Duration.ofMillis(500)).until(() -> true);
            assertThat(b.head().seq()).as("B takes no record while its journal is full").isEqualTo(head);
            assertThat(writer).as("A's writer waits for B's answer").isNotDone();
        } finally {
            target.applyLock.unlock();
        }
        writer.get(60, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(b.group().journal.status().capacityBytes()).isEqualTo(4L << 20);
        assertThat(a.pair("B").outdated()).as("B delayed its answers; it never refused a record").isFalse();
        assertThat(a.pair("B").state()).isEqualTo("in-sync");
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void suspendIoHoldsHostWritesWhileTheSyncPeerIsAwayAndReleasesThemWhenItReturns() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "suspend-io");
        awaitState(a, "B", "in-sync");
        // Cut once B journaled a write but has not forced it (its once-a-second FORCE may come first: then again).
        for (int i = 0; ; i++) {
            try (BlockDevice d = a.device()) {
                d.write(4096 * (long) i, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 7), false);
            }
            net.cut("A", "B");
            if (b.group().journal.durable().isBefore(a.head())) {
                break;
            }
            assertThat(i).as("B forced every write before the cut").isLessThan(20);
            net.heal("A", "B");
            awaitState(a, "B", "in-sync");
        }
        // A FLUSH of what B journaled but has not forced: its FORCE fails while the link is cut,
        // and it waits like the write instead of failing.
        java.util.concurrent.CompletableFuture<Void> heldFlush = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try (BlockDevice d = a.device()) {
                d.flush();
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Awaitility.await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
        assertThat(heldFlush).as("the FLUSH waits for B (suspend-io)").isNotDone();
        java.util.concurrent.CompletableFuture<Void> held = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try (BlockDevice d = a.device()) {
                d.write(8192, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 42), false);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Awaitility.await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
        assertThat(held).as("the write waits for B (suspend-io)").isNotDone();
        assertThat(a.pair("B").outdated()).as("suspend-io never marks B Outdated").isFalse();
        net.heal("A", "B");
        held.get(60, java.util.concurrent.TimeUnit.SECONDS);
        heldFlush.get(60, java.util.concurrent.TimeUnit.SECONDS);
        awaitState(a, "B", "in-sync");
        assertThat(b.head()).as("B journaled the held write before it was acknowledged").isEqualTo(a.head());
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void anAsyncPeerNeverGetsAheadOfAnInSyncSyncPeer() throws Exception {
        startBoth(JOURNAL);
        ReplicationSite c = new ReplicationSite("C", net, new SimulatedStorage(), JOURNAL, VOL).start();
        try {
            a.repl.create("default", "B", "sync", "continue");
            a.repl.create("default", "C", "async", "");
            awaitState(a, "B", "in-sync");
            awaitState(a, "C", "replicating");
            // B answers late: its journal trails A's head while it is in sync
            net.delay("A", "B", 5);
            java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.CompletableFuture<Integer> watcher = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> {
                        int samples = 0;
                        while (!done.get()) {
                            long onC = c.head().seq(); // C first: B's head only grows
                            long onB = b.head().seq();
                            if (onC > onB) {
                                throw new AssertionError("C holds " + onC + ", ahead of in-sync B at " + onB);
                            }
                            samples++;
                        }
                        return samples;
                    });
            try (BlockDevice d = a.device()) {
                write(d, new Random(14), 200, true);
            }
            done.set(true);
            assertThat(watcher.get(30, java.util.concurrent.TimeUnit.SECONDS)).isPositive();
            c.awaitApplied(a.head());
            assertThat(c.image()).isEqualTo(a.image());
        } finally {
            c.close();
        }
    }

    @Test
    void withoutTheMapServiceAPairedGroupHoldsHostWritesUntilItReturns() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        a.repl.maps(null);
        b.repl.maps(null);
        java.util.concurrent.CompletableFuture<Void> held = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try (BlockDevice d = a.device()) {
                d.write(4096, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 9), false);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Awaitility.await().pollDelay(Duration.ofMillis(500)).until(() -> true);
        assertThat(held).as("a paired group's write waits for its pairs").isNotDone();
        try (BlockDevice d = b.device()) {
            java.util.concurrent.CompletableFuture<Void> replica = java.util.concurrent.CompletableFuture.runAsync(() -> {
                try {
                    d.write(0, ByteBuffer.allocate(4096), false);
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            Awaitility.await().pollDelay(Duration.ofMillis(300)).until(() -> true);
            assertThat(replica).as("the replica takes no host write without its pair").isNotDone();
            b.repl.maps(new DifferenceMapStore(b.storage, ReplicationSite.ROOT.resolve("maps")));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> replica.get(30, java.util.concurrent.TimeUnit.SECONDS))
                    .hasMessageContaining("is a replica");
        }
        a.repl.maps(new DifferenceMapStore(a.storage, ReplicationSite.ROOT.resolve("maps")));
        held.get(30, java.util.concurrent.TimeUnit.SECONDS);
        awaitState(a, "B", "in-sync");
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aSecondaryThatLostItsCopyIsCopiedWholeAgain() throws Exception {
        startBoth(JOURNAL);
        try (BlockDevice d = a.device()) {
            write(d, new Random(15), 100, false);
        }
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        b.awaitApplied(a.head());
        // B is reinstalled: a new, empty site under the same name
        net.cut("A", "B"); // its link drops while it is away
        b.close();
        b = new ReplicationSite("B", net, new SimulatedStorage(), JOURNAL, VOL).start();
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !"replicating".equals(a.pair("B").state()));
        net.heal("A", "B");
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> "replicating".equals(a.pair("B").state())
                && a.pair("B").mapBlocks() == 0 && b.group().tracker != null
                && !b.group().tracker.watermark().isBefore(a.head()) && b.pair("A").consistent());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aConnectedAsyncPeerThatFallsBehindFoldsAndCatchesUp() throws Exception {
        startBoth(EngineFixture.journalSettings(2L << 20, 4L << 20));
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        // the map service is replaced (as at start-up or an update): the pairs restart on the new one
        a.repl.maps(new DifferenceMapStore(a.storage, ReplicationSite.ROOT.resolve("maps")));
        awaitState(a, "B", "replicating");
        net.delay("B", "A", 100); // slow pulls: B stays connected but falls behind
        try (BlockDevice d = a.device()) {
            write(d, new Random(16), 3000, false);
        }
        net.delay("B", "A", 0);
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> a.pair("B").mapBlocks() == 0
                && !b.group().tracker.watermark().isBefore(a.head()) && b.pair("A").consistent());
        // the last pass copied a map, not the whole volume as the initial copy did
        assertThat(a.pair("B").resyncBlocks()).as("blocks of the last resync pass").isLessThan(VOL / 4096);
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void snapshotsOfTheTargetDuringLoadLeaveItsJournalToThePrimary() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(9);
            for (int round = 0; round < 5; round++) {
                write(d, rnd, 100, false);
                // a snapshot at the replica journals nothing there: its journal mirrors A's positions
                b.engine.snapshotGroup("default", "s" + round);
            }
        }
        b.awaitApplied(a.head());
        assertThat(b.head()).isEqualTo(a.head());
        assertThat(b.image()).isEqualTo(a.image());
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.engine.rollback("vol0", "s0"))
                .hasMessageContaining("is a replica");
    }

    @Test
    void aCutSyncLinkMarksThePeerOutdatedAndHealsWithoutAFullCopy() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        try (BlockDevice d = a.device()) {
            write(d, new Random(4), 50, false);
            net.cut("A", "B");
            // The first write the peer lacks is acknowledged only after Outdated is on disk.
            write(d, new Random(5), 1, false);
            assertThat(a.pair("B").outdated()).isTrue();
            PairStore onDisk = new PairStore(a.storage, ReplicationSite.ROOT);
            onDisk.load();
            assertThat(onDisk.all().get(0).outdated()).as("Outdated is on disk").isTrue();
            Set<Long> dirty = write(d, new Random(6), 100, false);
            net.resetBytes();
            net.heal("A", "B");
            awaitState(a, "B", "in-sync");
            assertThat(a.pair("B").outdated()).isFalse();
            long sent = net.bytes("A", "B");
            assertThat(sent).as("catch-up sends what B lacks, not the volume")
                    .isLessThan((long) (dirty.size() + 10) * 4096 * 2);
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aPassBrokenByTheTargetsDeathResumesFromTheBlocksItConfirmed() throws Exception {
        long markBytes = PrimaryPair.resyncMarkBytes;
        PrimaryPair.resyncMarkBytes = 256 << 10; // a mark after every 1 MiB frame of the pass
        try {
            startBoth(JOURNAL);
            fillWithRandomData(a, 31); // every block differs from B's zeros
            long groupBlocks = VOL / 4096;
            net.delay("A", "B", 300); // the pass takes a while: B dies in the middle of it
            a.repl.create("default", "B", "async", "");
            Awaitility.await().atMost(Duration.ofSeconds(60))
                    .until(() -> a.pair("B").mapBlocks() > 0 && a.pair("B").mapBlocks() <= groupBlocks / 2);
            long left = a.pair("B").mapBlocks();
            // a power cut at B: of what it did not force, about half the pages are gone
            b.kill();
            b.storage.simulatePowerCut(7);
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !"initial-copy".equals(a.pair("B").state()));
            long leftAfter = a.pair("B").mapBlocks();
            assertThat(leftAfter).as("blocks B confirmed durable leave A's map for good").isLessThanOrEqualTo(left)
                    .isLessThan(groupBlocks);
            net.delay("A", "B", 0);
            net.resetBytes();
            b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).start();
            Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> "replicating".equals(a.pair("B").state())
                    && a.pair("B").mapBlocks() == 0 && b.group().tracker != null
                    && !b.group().tracker.watermark().isBefore(a.head()) && b.pair("A").consistent());
            assertThat(b.image()).as("the blocks confirmed before the power cut, and the rest copied after")
                    .isEqualTo(a.image());
            long resent = net.bytes("A", "B");
            assertThat(resent).as("after the restart only the %d blocks left are copied (of %d)", leftAfter, groupBlocks)
                    .isLessThan(leftAfter * 4096 + (256 << 10))
                    .isLessThan(VOL * 3 / 4);
        } finally {
            PrimaryPair.resyncMarkBytes = markBytes;
        }
    }

    @Test
    void anAsyncPeerCutLongEnoughToOverflowTheJournalCatchesUpFromItsMap() throws Exception {
        startBoth(EngineFixture.journalSettings(2L << 20, 4L << 20));
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        b.awaitApplied(a.head());
        net.cut("A", "B");
        Set<Long> dirty = new HashSet<>();
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(7);
            // Far more than the 4 MiB journal holds, over a few hundred distinct blocks.
            for (int i = 0; i < 3000; i++) {
                long block = rnd.nextInt(300);
                byte[] data = new byte[4096];
                rnd.nextBytes(data);
                d.write(block * 4096, ByteBuffer.wrap(data), false);
                dirty.add(block);
            }
        }
        assertThat(a.pair("B").mapBlocks()).as("records B lacked were folded into its map").isPositive();
        net.resetBytes();
        net.heal("A", "B");
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> a.pair("B").mapBlocks() == 0
                && !b.group().tracker.watermark().isBefore(a.head()) && b.pair("A").consistent());
        assertThat(b.image()).isEqualTo(a.image());
        long sent = net.bytes("A", "B");
        long dirtyBytes = dirty.size() * 4096L;
        assertThat(sent).as("bytes sent (%d) against distinct dirty blocks (%d bytes)", sent, dirtyBytes)
                .isLessThan((long) (dirtyBytes * 1.10) + (64 << 10));
    }

    @Test
    void aKilledSyncPrimaryLosesNoAcknowledgedWriteAndResyncsAfterRestart() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        Position acked;
        try (BlockDevice d = a.device()) {
            write(d, new Random(8), 200, true);
            acked = a.head();
        }
        assertThat(b.head()).isEqualTo(acked);
        byte[] beforeKill = a.image();
        a.kill();
        b.awaitApplied(acked);
        assertThat(b.image()).as("every acknowledged write is on the secondary").isEqualTo(beforeKill);
        a = new ReplicationSite("A", net, a.storage, JOURNAL, VOL).start();
        awaitState(a, "B", "in-sync");
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aTargetWhosePrimaryDeletedThePairUnseenIsEndedAtTheSecondaryWithLocal() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        net.cut("A", "B");
        a.repl.delete("default", "B"); // B is not told
        assertThat(a.repl.pairs()).isEmpty();
        assertThat(b.repl.pair("default", "A")).as("B never heard of the deletion").isPresent();
        try (BlockDevice d = b.device()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(4096), false))
                    .hasMessageContaining("is a replica");
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.delete("default", "A"))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is the target of pair")
                .hasMessageContaining("pair-delete --local");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.deleteTarget("default", "C"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not the target of a pair from C");
        b.repl.deleteTarget("default", "A");
        assertThat(b.repl.pairs()).isEmpty();
        try (BlockDevice d = b.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]), true);
        }
        // Ended on disk too: a restart does not bring the target back.
        net.heal("A", "B");
        b.close();
        b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).start();
        assertThat(b.repl.pairs()).isEmpty();
        try (BlockDevice d = b.device()) {
            d.write(4096, ByteBuffer.wrap(new byte[4096]), true);
        }
    }

    @Test
    void aPrimaryRefusesLocalDeletion() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.deleteTarget("default", "B"))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is the primary of pair")
                .hasMessageContaining("without --local");
        assertThat(a.repl.pairs()).hasSize(1);
    }

    /**
     * Deleting a pair while its driver reads the volume for the initial copy leaves the volume
     * open: an interrupt during FileChannel I/O would close the file under the host's I/O.
     */
    @Test
    void deletingAPairInTheMiddleOfAVolumeReadLeavesTheVolumeServing() throws Exception {
        startBoth(JOURNAL);
        try (BlockDevice d = a.device()) {
            write(d, new Random(21), 20, false);
        }
        java.util.concurrent.CountDownLatch inRead = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        a.storage.ioHook(path -> {
            if (Thread.currentThread().getName().startsWith("doppel-pair-") && path.toString().contains("volumes")) {
                inRead.countDown();
                try {
                    release.await(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt(); // keep it for the FileChannel-like check after the hook
                }
            }
        });
        a.repl.create("default", "B", "async", "");
        assertThat(inRead.await(30, java.util.concurrent.TimeUnit.SECONDS)).as("the initial copy reads the volume").isTrue();
        java.util.concurrent.CompletableFuture<Void> deleted = new java.util.concurrent.CompletableFuture<>();
        Thread deleter = new Thread(() -> {
            try {
                a.repl.delete("default", "B");
                deleted.complete(null);
            } catch (Throwable e) {
                deleted.completeExceptionally(e);
            }
        }, "deleter");
        deleter.start();
        // The deleter waits for the driver, which is inside the read: whatever stop() does to it is done.
        Awaitility.await().atMost(Duration.ofSeconds(10))
                .until(() -> deleter.getState() == Thread.State.TIMED_WAITING || deleted.isDone());
        release.countDown();
        deleted.get(30, java.util.concurrent.TimeUnit.SECONDS);
        a.storage.ioHook(null);
        try (BlockDevice d = a.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 9), true);
            ByteBuffer back = ByteBuffer.allocate(4096);
            d.read(0, back);
            assertThat(back.get(0)).isEqualTo((byte) 9);
        }
    }

    /** The same at the secondary: ending a target while its applier writes the volume leaves the volume serving. */
    @Test
    void endingATargetInTheMiddleOfAnApplyLeavesItsVolumeServing() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        java.util.concurrent.CountDownLatch inWrite = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        b.storage.ioHook(path -> {
            if (Thread.currentThread().getName().startsWith("doppel-apply-") && path.toString().contains("volumes")) {
                inWrite.countDown();
                try {
                    release.await(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        try (BlockDevice d = a.device()) {
            write(d, new Random(22), 20, false);
        }
        assertThat(inWrite.await(30, java.util.concurrent.TimeUnit.SECONDS)).as("B applies a record").isTrue();
        java.util.concurrent.CompletableFuture<Void> ended = new java.util.concurrent.CompletableFuture<>();
        Thread ender = new Thread(() -> {
            try {
                b.repl.deleteTarget("default", "A");
                ended.complete(null);
            } catch (Throwable e) {
                ended.completeExceptionally(e);
            }
        }, "ender");
        ender.start();
        Awaitility.await().atMost(Duration.ofSeconds(10))
                .until(() -> ender.getState() == Thread.State.TIMED_WAITING || ended.isDone());
        release.countDown();
        ended.get(30, java.util.concurrent.TimeUnit.SECONDS);
        b.storage.ioHook(null);
        try (BlockDevice d = b.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]).put(0, (byte) 5), true);
            ByteBuffer back = ByteBuffer.allocate(4096);
            d.read(0, back);
            assertThat(back.get(0)).isEqualTo((byte) 5);
        }
    }

    /** A pair that cannot start is listed as failed with the cause, holds host writes, and can be deleted. */
    @Test
    void aPairThatCannotStartIsListedFailedWithItsCauseAndCanBeDeleted() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        String id = a.pair("B").id();
        a.close();
        java.nio.file.Path mapFile = ReplicationSite.ROOT.resolve("maps").resolve(id + ".map");
        try (io.doppel.api.storage.StorageFile f = a.storage.open(mapFile, false)) {
            f.write(ByteBuffer.wrap(new byte[] {0x55, 0x55, 0x55, 0x55}), 12); // past the header: the CRC fails
        }
        a = new ReplicationSite("A", net, a.storage, JOURNAL, VOL).start();
        io.doppel.api.pair.PairInfo p = a.pair("B");
        assertThat(p.state()).isEqualTo("failed");
        assertThat(p.detail()).contains(id + ".map").contains("CRC32C mismatch");
        assertThat(p.id()).isEqualTo(id);
        // its group holds host writes (they would reach neither the peer nor a map), then fails them
        try (BlockDevice d = a.device()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(4096), false))
                    .hasMessageContaining("pairs are not running");
        }
        a.repl.delete("default", "B");
        assertThat(a.repl.pairs()).isEmpty();
        try (BlockDevice d = a.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]), true);
        }
    }

    /**
     * The secondary applies only what its journal holds durably: after a power cut there, its
     * volumes hold no block of a record its journal lost (the replica stays a prefix image).
     */
    @Test
    void aSecondaryAppliesOnlyDurableRecordsSoAPowerCutLeavesAPrefixImage() throws Exception {
        startBoth(JOURNAL);
        // async: nothing but the secondary itself forces its journal (a sync primary sends FORCEs)
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        int n = 200;
        long[] seqOf = new long[n];
        try (BlockDevice d = a.device()) {
            for (int i = 0; i < n; i++) {
                byte[] data = new byte[4096];
                java.util.Arrays.fill(data, (byte) (i % 250 + 1));
                d.write(i * 4096L, ByteBuffer.wrap(data), false);
                seqOf[i] = a.head().seq();
            }
        }
        Position head = a.head();
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !b.group().tracker.watermark().isBefore(head));
        Position applied = b.group().tracker.watermark();
        assertThat(b.group().journal.durable()).as("durable at B, once it applied %s", applied).isGreaterThanOrEqualTo(applied);
        net.cut("A", "B"); // A must not resend what B loses
        b.kill();
        b.storage.simulatePowerCut(7);
        b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).start();
        long kept = b.head().seq();
        byte[] image = b.image();
        for (int i = 0; i < n; i++) {
            byte first = image[i * 4096];
            if (seqOf[i] > kept) {
                assertThat(first).as("block %d of record %d, after B's recovered head %d", i, seqOf[i], kept).isEqualTo((byte) 0);
            } else {
                assertThat(first).as("block %d of record %d, within B's recovered head %d", i, seqOf[i], kept)
                        .isEqualTo((byte) (i % 250 + 1));
            }
        }
    }

    /**
     * A secondary whose journal lost records it had reported durable (damaged segments) while
     * the primary released them is copied whole again; it does not silently miss them.
     */
    @Test
    void aSecondaryThatLostDurableRecordsThePrimaryReleasedIsCopiedWhole() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        try (BlockDevice d = a.device()) {
            write(d, new Random(31), 1600, false);
        }
        Position head = a.head();
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !b.group().tracker.watermark().isBefore(head));
        // A records (lazily) what B reported durable, and releases what B holds
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
            PairStore onDisk = new PairStore(a.storage, ReplicationSite.ROOT);
            onDisk.load();
            return !onDisk.all().get(0).peerDurable().isBefore(head);
        });
        a.engine.checkpoint("default");
        net.cut("A", "B"); // B's restart drops the connection, as over TCP
        b.kill();
        // B's three newest journal segments are lost (a damaged disk)
        java.nio.file.Path dir = ReplicationSite.ROOT.resolve("journals").resolve("default");
        java.util.List<java.nio.file.Path> segments = b.storage.list(dir).stream()
                .filter(f -> f.getFileName().toString().startsWith("segment-")).sorted().toList();
        assertThat(segments).hasSizeGreaterThanOrEqualTo(3);
        for (java.nio.file.Path seg : segments.subList(segments.size() - 3, segments.size())) {
            b.storage.deleteIfExists(seg);
        }
        b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).start();
        assertThat(b.head()).as("B's journal now ends before what A released").isLessThan(a.group().journal.retainedStart());
        net.heal("A", "B");
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> a.pair("B").mapBlocks() == 0
                && "replicating".equals(a.pair("B").state())
                && !b.group().tracker.watermark().isBefore(a.head()) && b.pair("A").consistent());
        assertThat(b.image()).isEqualTo(a.image());
        assertThat(a.pair("B").resyncBlocks()).as("a whole copy").isEqualTo(VOL / 4096);
    }

    // ---- pull pacing ---------------------------------------------------------------------------

    /** Writes 4 KiB blocks one after another, {@code pauseMillis} apart, until stopped. */
    private static Thread writer(BlockDevice d, AtomicBoolean stop, long pauseMillis) {
        Thread t = new Thread(() -> {
            Random rnd = new Random(77);
            byte[] data = new byte[4096];
            try {
                while (!stop.get()) {
                    rnd.nextBytes(data);
                    d.write((long) rnd.nextInt((int) (VOL / 4096)) * 4096, ByteBuffer.wrap(data), false);
                    if (pauseMillis > 0) {
                        Thread.sleep(pauseMillis);
                    }
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "test-writer");
        t.start();
        return t;
    }

    @Test
    void aBurstShortensThePullIntervalAndIdlenessLengthensIt() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        // idle: each empty pull doubles the wait, up to the longest (1 s)
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").pullDelayMillis() == 1000);
        assertThat(b.pair("A").pullReason()).isEqualTo("no records came back");

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong shortest = new AtomicLong(Long.MAX_VALUE);
        try (BlockDevice d = a.device()) {
            Thread w = writer(d, stop, 0);
            try {
                Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5)).until(() -> {
                    shortest.accumulateAndGet(b.pair("A").pullDelayMillis(), Math::min);
                    return shortest.get() <= 1;
                });
            } finally {
                stop.set(true);
                w.join();
            }
        }
        assertThat(shortest.get()).as("the burst brought the wait down to the shortest").isEqualTo(1);
        b.awaitApplied(a.head());
        // idle again: back to the longest
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").pullDelayMillis() == 1000);
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aSaturatedPrimaryIsLeftToItsHostsUntilItsJournalIsHalfFull() throws Exception {
        // 128 MiB: a burst can fill over half of it for the secondary before a fold (from 96 MiB) takes it
        startBoth(EngineFixture.journalSettings(2L << 20, 128L << 20));
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        AtomicBoolean stop = new AtomicBoolean();
        try (BlockDevice d = a.device()) {
            // negative control: a primary that is not saturated, with hosts writing, is pulled from soon
            Thread w = writer(d, stop, 2);
            try {
                Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").pullDelayMillis() < 100
                        && b.pair("A").pullReason().endsWith("records came back"));
                a.load.cpuBusy = 0.95;
                Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").pullDelayMillis() == 1000);
                assertThat(b.pair("A").pullReason()).startsWith("primary saturated (load 0.95) by host writes");
            } finally {
                stop.set(true);
                w.join();
            }
            // the hosts stopped writing: a saturated primary is pulled from again
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").pullReason().equals("no records came back")
                    || b.pair("A").pullReason().endsWith("records came back"));
            b.awaitApplied(a.head());
            a.engine.checkpoint("default"); // releases what B holds, so the burst below starts from an empty journal
            // a burst of about 90 MiB, past half of the journal; slow pulls (300 ms each way) keep the backlog
            // over half long enough to be seen: the shortest wait, although the primary is saturated
            net.delay("B", "A", 300);
            write(d, new Random(78), 22_000, false);
            // the hosts go on writing, so the primary is still saturated by them
            stop.set(false);
            w = writer(d, stop, 2);
            try {
                Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5))
                        .until(() -> b.pair("A").pullReason().startsWith("backlog fills") && b.pair("A").pullDelayMillis() == 1);
                assertThat(b.pair("A").pullReason()).endsWith("of the primary's journal (over half)");
            } finally {
                stop.set(true);
                w.join();
            }
        }
        net.delay("B", "A", 0);
        a.load.cpuBusy = 0;
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
        assertThat(a.pair("B").mapBlocks()).as("nothing was folded").isZero();
    }

    // ---- live copy modes -----------------------------------------------------------------------

    /** Writes random 4 KiB blocks on A until stopped; counts them. */
    private static final class Writer implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong written = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        /** Held around each write: a test that takes it has the device to itself. */
        final java.util.concurrent.locks.ReentrantLock turn = new java.util.concurrent.locks.ReentrantLock();
        final Thread thread;

        Writer(ReplicationSite site, long seed) {
            thread = new Thread(() -> {
                Random rnd = new Random(seed);
                try (BlockDevice d = site.device()) {
                    while (!stop.get()) {
                        byte[] data = new byte[4096];
                        rnd.nextBytes(data);
                        turn.lock();
                        try {
                            d.write(rnd.nextInt((int) (VOL / 4096)) * 4096L, ByteBuffer.wrap(data), rnd.nextInt(10) == 0);
                            written.incrementAndGet();
                        } catch (Exception e) {
                            failed.incrementAndGet();
                        } finally {
                            turn.unlock();
                        }
                    }
                } catch (Exception e) {
                    failed.incrementAndGet();
                }
            }, "test-writer");
            thread.start();
        }

        void awaitMore(long n) {
            long from = written.get();
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> written.get() >= from + n);
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            thread.join(30_000);
        }
    }

    @Test
    void aPairSwitchedBetweenSyncAndAsyncUnderWritesLosesNothingAndWaitsForThePeerOnlyInSync() throws Exception {
        // a journal that holds what B falls behind while async, so that no fold (and no pass) follows
        startBoth(EngineFixture.journalSettings(2L << 20, 128L << 20));
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        try (Writer w = new Writer(a, 41)) {
            w.awaitMore(200);
            for (int round = 0; round < 3; round++) {
                a.repl.changeMode("default", "B", "async");
                awaitState(a, "B", "replicating");
                assertThat(a.group().waitsForPeers).as("async: writes do not wait for B").isFalse();
                net.delay("A", "B", 20); // B falls behind while async, so the switch back has to catch up
                w.awaitMore(300);
                PairInfo switched = a.repl.changeMode("default", "B", "sync");
                assertThat(switched.state()).as("right after async -> sync").isEqualTo("catching-up");
                net.delay("A", "B", 0);
                awaitState(a, "B", "in-sync");
                assertThat(a.group().waitsForPeers).isTrue();
                // in sync again: each write is in B's journal before it is acknowledged
                w.turn.lock();
                try (BlockDevice d = a.device()) {
                    for (int i = 0; i < 20; i++) {
                        d.write(i * 4096L, ByteBuffer.wrap(new byte[4096]), false);
                        assertThat(b.head()).as("sync write %d of round %d", i, round).isEqualTo(a.head());
                    }
                } finally {
                    w.turn.unlock();
                }
                assertThat(a.pair("B").outdated()).as("in sync: not Outdated").isFalse();
                w.awaitMore(200);
            }
            assertThat(w.failed.get()).as("writes failed across the switches").isZero();
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
        assertThat(a.pair("B").resyncBlocks()).as("the switches copied no blocks: the initial copy was the only pass")
                .isEqualTo(VOL / 4096);
        // negative control: an unknown mode is refused, naming it
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.changeMode("default", "B", "semi"))
                .hasMessageContaining("mode 'semi' is unknown");
    }

    @Test
    void aWriteWaitsForAnAbsentSyncModeAndCompletesWhenItReturnsWithoutMarkingThePeer() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        a.repl.modeRemoved(a.syncMode);
        AtomicBoolean done = new AtomicBoolean();
        Thread t = new Thread(() -> {
            try (BlockDevice d = a.device()) {
                d.write(0, ByteBuffer.wrap(new byte[4096]), true);
                done.set(true);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        t.start();
        // held: the mode is away (negative control for the completion below)
        Awaitility.await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> !done.get());
        a.repl.modeAdded(a.syncMode);
        t.join(10_000);
        assertThat(done.get()).as("the write completed once the mode was back").isTrue();
        assertThat(a.pair("B").outdated()).as("back within the hold: B is not Outdated").isFalse();
        awaitState(a, "B", "in-sync");
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aSyncModeAbsentPastTheHoldAppliesTheLostPeerPolicy() throws Exception {
        startBoth(JOURNAL);
        a.engine.settings(new EngineSettings(ReplicationSite.ROOT, 10_000, 3_600_000, "default", "vol0", VOL, 300));
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        a.repl.modeRemoved(a.syncMode);
        long t0 = System.nanoTime();
        try (BlockDevice d = a.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]), false);
            long heldMillis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(heldMillis).as("the first write waited for the mode").isGreaterThanOrEqualTo(290);
            assertThat(a.pair("B").outdated()).as("continue: B marked Outdated before the write completed").isTrue();
            long t1 = System.nanoTime();
            for (int i = 1; i < 20; i++) {
                d.write(i * 4096L, ByteBuffer.wrap(new byte[4096]), false);
            }
            assertThat((System.nanoTime() - t1) / 1_000_000).as("later writes do not wait again").isLessThan(290);
        }
        a.repl.modeAdded(a.syncMode);
        awaitState(a, "B", "in-sync");
        assertThat(a.pair("B").outdated()).isFalse();
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void anAbsentAsyncModeHoldsNoWrite() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        a.repl.modeRemoved(a.asyncMode);
        long t0 = System.nanoTime();
        try (BlockDevice d = a.device()) {
            write(d, new Random(43), 50, true);
        }
        assertThat((System.nanoTime() - t0) / 1_000_000).as("async writes do not wait for the async mode").isLessThan(2_000);
        assertThat(a.pair("B").outdated()).isFalse();
        a.repl.modeAdded(a.asyncMode);
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void aCopyModeThisEngineCannotRunLeavesThePairWaitingWithTheReason() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "async", "");
        awaitState(a, "B", "replicating");
        // a later async whose points transfer (seed 003) this engine does not carry
        io.doppel.api.copy.CopyMode points = new io.doppel.api.copy.CopyMode() {
            @Override
            public String name() {
                return "async";
            }

            @Override
            public Transfer transfer() {
                return Transfer.POINTS;
            }

            @Override
            public boolean waitsForPeer() {
                return false;
            }

            @Override
            public io.doppel.api.copy.PullPlan planPull(io.doppel.api.copy.PullObservation last) {
                return new io.doppel.api.copy.PullPlan(1000, 1 << 20, "points");
            }

            @Override
            public int applyBudget(io.doppel.api.copy.ApplyObservation now) {
                return 0;
            }
        };
        a.repl.modeRemoved(a.asyncMode);
        a.repl.modeAdded(points, "io.example.points", "2.0.0");
        // (between the unbinding and the binding it may show "no copy mode 'async' is installed" for a moment)
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> "waiting-for-mode".equals(a.pair("B").state())
                && a.pair("B").detail().equals("copy mode async needs transfer POINTS, which this engine does not carry yet"));
        assertThat(a.repl.copyModes()).filteredOn(m -> m.name().equals("async")).singleElement()
                .satisfies(m -> {
                    assertThat(m.bundle()).isEqualTo("io.example.points");
                    assertThat(m.runnable()).contains("needs transfer POINTS");
                });
        a.repl.modeRemoved(points);
        a.repl.modeAdded(a.asyncMode);
        awaitState(a, "B", "replicating");
        try (BlockDevice d = a.device()) {
            write(d, new Random(44), 20, false);
        }
        b.awaitApplied(a.head());
        assertThat(b.image()).isEqualTo(a.image());
    }

    @Test
    void ofTwoBoundProvidersOfAModeTheHigherVersionServesAndTheOtherTakesOverWhenItGoes() throws Exception {
        startBoth(JOURNAL);
        a.repl.modeRemoved(a.syncMode);
        io.doppel.copysync.internal.SyncCopyMode old = new io.doppel.copysync.internal.SyncCopyMode();
        io.doppel.copysync.internal.SyncCopyMode newer = new io.doppel.copysync.internal.SyncCopyMode();
        a.repl.modeAdded(newer, "io.doppel.copy-sync", "0.1.10");
        a.repl.modeAdded(old, "io.doppel.copy-sync", "0.1.9.zzz"); // bound later, lower: does not take over
        assertThat(a.repl.copyModes()).filteredOn(m -> m.name().equals("sync")).singleElement()
                .satisfies(m -> assertThat(m.version()).isEqualTo("0.1.10"));
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        a.repl.modeRemoved(newer);
        assertThat(a.repl.copyModes()).filteredOn(m -> m.name().equals("sync")).singleElement()
                .satisfies(m -> assertThat(m.version()).isEqualTo("0.1.9.zzz"));
        awaitState(a, "B", "in-sync");
        try (BlockDevice d = a.device()) {
            write(d, new Random(45), 20, false);
        }
        assertThat(b.head()).isEqualTo(a.head());
        assertThat(Replication.compareVersions("0.1.0.202611221521", "0.1.2")).isNegative();
        assertThat(Replication.compareVersions("1.0.0", "0.9.9.z")).isPositive();
        assertThat(Replication.compareVersions("0.1.1.b", "0.1.1.a")).isPositive();
    }

    // ---- cascade A -> B -> C ------------------------------------------------------------------

    /** A -> B in {@code upstreamMode}, B -> C async: C pulls from B's journal, which holds A's records. */
    private void startCascade(JournalSettings js, String upstreamMode) throws Exception {
        startBoth(js);
        c = new ReplicationSite("C", net, new SimulatedStorage(), js, VOL).start();
        a.repl.create("default", "B", upstreamMode, "continue");
        awaitState(a, "B", "sync".equals(upstreamMode) ? "in-sync" : "replicating");
        b.repl.create("default", "C", "async", "");
        awaitState(b, "C", "replicating");
    }

    /** C applied everything A wrote, holds A's image, and says it is consistent. */
    private void awaitCascadeConverged() {
        Awaitility.await().atMost(Duration.ofSeconds(90)).until(() -> {
            Position h = a.head();
            return !b.group().tracker.watermark().isBefore(h) && !c.group().tracker.watermark().isBefore(h)
                    && c.pair("B").consistent() && b.pair("C").mapBlocks() == 0;
        });
    }

    @Test
    void aCascadeCarriesThePrimarysWritesThroughTheMiddleSiteWithThePrimarysPositions() throws Exception {
        startCascade(JOURNAL, "sync");
        try (BlockDevice d = a.device()) {
            write(d, new Random(31), 400, true);
            d.trim(0, 8192, false);
            d.writeZeroes(65536, 4096 * 3, false);
        }
        awaitCascadeConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(b.image()).isEqualTo(a.image());
        // C's journal carries A's update numbers: B relays them, it does not renumber
        assertThat(c.head()).isEqualTo(a.head());
        // a cascade pulls: a pushed (sync) pair from a copy is refused, naming why
        c.close();
        c = null;
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.create("default", "D", "sync", "continue"))
                .hasMessageContaining("a pair from a copy (a cascade) pulls");
    }

    @Test
    void aCascadeSurvivesTheMiddleSiteKilledUnderLoadWithoutAFullCopyToTheLastSite() throws Exception {
        startCascade(JOURNAL, "sync");
        try (BlockDevice d = a.device()) {
            write(d, new Random(32), 300, false);
        }
        awaitCascadeConverged();
        long initialCopy = b.pair("C").resyncBlocks();
        assertThat(initialCopy).as("C's initial copy was the whole volume").isEqualTo(VOL / 4096);
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(33);
            write(d, rnd, 200, false);
            b.kill();
            write(d, rnd, 200, false); // A goes on (lost-peer policy continue): B's map grows
            b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).start();
            write(d, rnd, 200, false);
        }
        awaitState(a, "B", "in-sync");
        awaitCascadeConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(b.pair("C").resyncBlocks()).as("blocks of C's last pass: a map, not the volume")
                .isLessThan(VOL / 4096 / 2);
    }

    @Test
    void aMiddleSiteRebasedByItsOwnResyncRestartsTheLastSitesStreamFromAConsistentImage() throws Exception {
        startCascade(EngineFixture.journalSettings(2L << 20, 4L << 20), "async");
        net.cut("A", "B");
        Set<Long> dirty = new HashSet<>();
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(34);
            // more than A's 4 MiB journal holds: B's records are folded at A, and its pass rebases B
            for (int i = 0; i < 3000; i++) {
                long block = rnd.nextInt(300);
                byte[] data = new byte[4096];
                rnd.nextBytes(data);
                d.write(block * 4096, ByteBuffer.wrap(data), false);
                dirty.add(block);
            }
        }
        assertThat(a.pair("B").mapBlocks()).isPositive();
        byte[] beforeHeal = c.image();
        net.heal("A", "B");
        awaitCascadeConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(c.image()).as("negative control: C changed").isNotEqualTo(beforeHeal);
        assertThat(b.pair("C").resyncBlocks()).as("C's last pass copied B's map, not the volume").isLessThan(VOL / 4096 / 2);
    }

    // ---- cascade through a journal-only middle site ------------------------------------------

    /**
     * A -> B (journal-only) in {@code upstreamMode}, then B -> C async. A writes before either
     * pair and between them, so C's whole copy must bring what B's journal never kept for it.
     */
    private void startRelayCascade(JournalSettings aJournal, JournalSettings bJournal, String upstreamMode) throws Exception {
        a = new ReplicationSite("A", net, new SimulatedStorage(), aJournal, VOL).start();
        b = new ReplicationSite("B", net, new SimulatedStorage(), bJournal, VOL).journalOnly().start();
        c = new ReplicationSite("C", net, new SimulatedStorage(), JOURNAL, VOL).start();
        assertThat(b.engine.group("default").orElseThrow().journalOnly()).isTrue();
        Random rnd = new Random(40);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 200, false);
        }
        // a journal-only group has no volumes of its own: a pair from it waits for its source's pair
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.create("default", "C", "async", ""))
                .hasMessageContaining("journal-only").hasMessageContaining("create the pair from its source");
        a.repl.create("default", "B", upstreamMode, "continue");
        awaitState(a, "B", "sync".equals(upstreamMode) ? "in-sync" : "replicating");
        try (BlockDevice d = a.device()) {
            write(d, rnd, 200, false);
        }
        b.repl.create("default", "C", "async", "");
        awaitRelayConverged();
        assertThat(b.pair("C").resyncBlocks()).as("C's first pass, relayed from A, was a whole copy").isEqualTo(VOL / 4096);
    }

    /** C applied everything A wrote, holds A's image and says so; B relays, so it applies nothing. */
    private void awaitRelayConverged() {
        try {
            Awaitility.await().atMost(Duration.ofSeconds(90)).until(() -> {
                Position h = a.head();
                return !c.group().tracker.watermark().isBefore(h) && c.pair("B").consistent()
                        && a.pair("B").mapBlocks() == 0 && "replicating".equals(b.pair("C").state());
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("the cascade through B never converged: A " + a.repl.pairs() + " B " + b.repl.pairs()
                    + " C " + c.repl.pairs(), e);
        }
    }

    /** Whether B's volume file holds only zeros: a journal-only site never writes it. */
    private boolean middleVolumeUnwritten() throws Exception {
        byte[] file = b.storage.readAll(ReplicationSite.ROOT.resolve("volumes").resolve("vol0").resolve("data"));
        for (byte x : file) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    @Test
    void aJournalOnlyMiddleSiteRelaysTheRecordsAndTheWholeCopyWithoutKeepingData() throws Exception {
        startRelayCascade(JOURNAL, JOURNAL, "sync");
        assertThat(c.image()).isEqualTo(a.image());
        try (BlockDevice d = a.device()) {
            write(d, new Random(42), 400, true);
            d.trim(0, 8192, false);
            d.writeZeroes(65536, 4096 * 3, false);
        }
        awaitRelayConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(c.head()).as("C's journal carries A's positions through B").isEqualTo(a.head());
        assertThat(b.head()).isEqualTo(a.head());
        assertThat(middleVolumeUnwritten()).as("B keeps A's records, not its data").isTrue();
        assertThat(a.image()).as("negative control: A's volume is not all zeros").isNotEqualTo(new byte[(int) VOL]);
        assertThat(b.pair("C").mapBlocks()).isZero();
        // B serves no data and takes no host volume
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.engine.open("vol0", true))
                .hasMessageContaining("journal-only group default");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.engine.createVolume("x", VOL, "default"))
                .hasMessageContaining("journal-only");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.engine.snapshotGroup("default", "s1"))
                .hasMessageContaining("journal-only");
    }

    @Test
    void aJournalOnlyMiddleSiteNeverFoldsItsFullJournalHoldsTheSourceBack() throws Exception {
        // B's journal (4 MiB) is smaller than A's (16 MiB): with C away it fills, and A keeps the rest
        startRelayCascade(JOURNAL, EngineFixture.journalSettings(2L << 20, 4L << 20), "async");
        long passBlocks = b.pair("C").resyncBlocks();
        net.cut("B", "C");
        Random rnd = new Random(43);
        try (BlockDevice d = a.device()) {
            // about 6 MiB: more than B's journal holds, under the three quarters of A's at which A folds
            for (int i = 0; i < 1500; i++) {
                long block = rnd.nextInt((int) (VOL / 4096));
                byte[] data = new byte[4096];
                rnd.nextBytes(data);
                d.write(block * 4096, ByteBuffer.wrap(data), false);
            }
        }
        TargetPair fromA = b.group().target;
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> fromA.fullDelays.get() > 0);
        assertThat(b.pair("C").mapBlocks()).as("B never folds: it has no volumes to copy folded blocks from").isZero();
        assertThat(a.pair("B").lagRecords()).as("A holds what B could not take").isPositive();
        assertThat(a.pair("B").mapBlocks()).as("A's 16 MiB journal holds the backlog without folding").isZero();
        net.heal("B", "C");
        awaitRelayConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(b.pair("C").resyncBlocks()).as("no pass after the whole copy: C caught up from B's journal")
                .isEqualTo(passBlocks);
        assertThat(middleVolumeUnwritten()).isTrue();
    }

    @Test
    void aSourcesFoldedPassGoesThroughTheJournalOnlySiteWithItsRebase() throws Exception {
        // A's journal (4 MiB) overflows while B is away: B's records fold into A's map, and A's
        // next pass rebases B's journal, which B relays to C after C took all B had
        startRelayCascade(EngineFixture.journalSettings(2L << 20, 4L << 20), JOURNAL, "async");
        net.cut("A", "B");
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(44);
            for (int i = 0; i < 3000; i++) {
                long block = rnd.nextInt(300);
                byte[] data = new byte[4096];
                rnd.nextBytes(data);
                d.write(block * 4096, ByteBuffer.wrap(data), false);
            }
        }
        assertThat(a.pair("B").mapBlocks()).isPositive();
        byte[] beforeHeal = c.image();
        net.heal("A", "B");
        awaitRelayConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(c.image()).as("negative control: C changed").isNotEqualTo(beforeHeal);
        assertThat(b.pair("C").resyncBlocks()).as("C's last pass was A's map, relayed, not the volume")
                .isPositive().isLessThan(VOL / 4096 / 2);
        assertThat(c.head()).isEqualTo(a.head());
        assertThat(middleVolumeUnwritten()).isTrue();
    }

    @Test
    void aJournalOnlyMiddleSiteKilledUnderLoadResumesWithoutAFullCopyToTheLastSite() throws Exception {
        startRelayCascade(JOURNAL, JOURNAL, "sync");
        long passBlocks = b.pair("C").resyncBlocks();
        try (BlockDevice d = a.device()) {
            Random rnd = new Random(45);
            write(d, rnd, 200, false);
            b.kill();
            write(d, rnd, 200, false); // A goes on (lost-peer policy continue)
            b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).journalOnly().start();
            write(d, rnd, 200, false);
        }
        awaitState(a, "B", "in-sync");
        awaitRelayConverged();
        assertThat(c.image()).isEqualTo(a.image());
        assertThat(b.pair("C").resyncBlocks()).as("C resumed from B's journal: no new pass, let alone a whole one")
                .isIn(0L, passBlocks);
        assertThat(middleVolumeUnwritten()).isTrue();
    }

    // ---- failover: takeover, failback by difference, split-brain ---------------------------------

    /** Allows every takeover the operator asks for (the manual policy's rule). */
    private static final io.doppel.api.failover.FailoverPolicy ALLOW = new io.doppel.api.failover.FailoverPolicy() {
        @Override
        public String name() {
            return "manual";
        }

        @Override
        public Decision decide(TakeoverRequest request) {
            return Decision.allow("asked by the operator");
        }
    };

    private ReplicationSite restart(ReplicationSite s) throws Exception {
        ReplicationSite again = new ReplicationSite(s.name, net, s.storage, s.journalSettings, VOL).start();
        again.repl.policyAdded(ALLOW);
        return again;
    }

    private static void awaitFailedBack(ReplicationSite primary, ReplicationSite back, String peer, String state) {
        awaitState(primary, peer, state);
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> {
            PairInfo p = primary.pair(peer);
            return p.mapBlocks() == 0 && p.lagRecords() == 0 && back.pair(primary.name).consistent()
                    && !back.group().tracker.watermark().isBefore(primary.head());
        });
    }

    /** The image kept in the site's {@code diverged-…} snapshot (its writes after a fork point). */
    private static byte[] divergedImage(ReplicationSite s) throws Exception {
        String snap = s.engine.groupMap().get("default").volumes.values().iterator().next().volume.snapshots().stream()
                .map(io.doppel.api.volume.SnapshotInfo::name).filter(n -> n.startsWith("diverged-")).findFirst().orElseThrow();
        try (BlockDevice d = s.engine.openSnapshot("vol0", snap)) {
            ByteBuffer kept = ByteBuffer.allocate((int) VOL);
            d.read(0, kept);
            return kept.array();
        }
    }

    @Test
    void aTakeoverIsRefusedWithoutAPolicyForAPrimaryAndForAnOutdatedCopy() throws Exception {
        startBoth(JOURNAL);
        a.repl.create("default", "B", "sync", "continue");
        awaitState(a, "B", "in-sync");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.takeover("default", false))
                .hasMessageContaining("no failover policy is installed");
        a.repl.policyAdded(ALLOW);
        b.repl.policyAdded(ALLOW);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.takeover("default", false))
                .hasMessageContaining("not the secondary of a pair").hasMessageContaining("it is the primary already");
        // B Outdated, as A's OUTDATED message records it when A goes on without B
        TargetPair t = b.group().target;
        t.rec = b.repl.store().update(t.id, r -> r.withOutdated(true));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.repl.takeover("default", false))
                .hasMessageContaining("is Outdated").hasMessageContaining("--force");
        assertThat(b.pair("A").role()).as("a refused takeover changes nothing").isEqualTo("secondary");
        // with --force it takes over, and says which positions it may lack
        Position held = b.head();
        net.cut("A", "B");
        b.repl.takeover("default", true);
        assertThat(b.pair("A").role()).isEqualTo("primary");
        assertThat(b.repl.failoverStatus().get(0).lastDecision()).contains("takeover --force")
                .contains("Outdated: it may lack the positions after " + held);
    }

    @Test
    void aTakenOverSyncPairFailsBackByTheNewPrimarysWritesOnly() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(51);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 300, true);
        }
        b.awaitApplied(a.head());
        long primaryEpoch = a.group().journal.epoch();
        byte[] before = a.image();
        a.close(); // the primary stops
        b.repl.takeover("default", false);
        assertThat(b.pair("A").role()).isEqualTo("primary");
        assertThat(b.group().journal.epoch()).as("the takeover opens a new epoch").isGreaterThan(primaryEpoch);
        Set<Long> atB;
        try (BlockDevice d = b.device()) {
            atB = write(d, rnd, 150, false);
        }
        a = restart(a);
        assertThat(a.image()).as("negative control: A lacks B's writes").isNotEqualTo(b.image());
        awaitFailedBack(b, a, "A", "in-sync");
        assertThat(a.image()).isEqualTo(b.image());
        assertThat(a.image()).isNotEqualTo(before);
        assertThat(a.pair("B").role()).isEqualTo("secondary");
        assertThat(b.pair("A").resyncBlocks()).as("no whole copy: B's records reached A from its journal")
                .isLessThanOrEqualTo(atB.size());
        try (BlockDevice d = a.device()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> d.write(0, ByteBuffer.allocate(4096), false))
                    .hasMessageContaining("is a replica");
        }
        // the pair runs on from B: new writes reach A synchronously
        try (BlockDevice d = b.device()) {
            write(d, rnd, 50, false);
        }
        assertThat(a.head()).isEqualTo(b.head());
    }

    @Test
    void aRestartedPrimaryHoldsWritesUntilItsPeerAnswersAndATakeoverThereRefusesThem() throws Exception {
        startPairWithPolicies("async");
        Random rnd = new Random(57);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, false);
        }
        b.awaitApplied(a.head());
        a.close();
        b.repl.takeover("default", false);
        try (BlockDevice d = b.device()) {
            write(d, rnd, 50, false);
        }
        // A comes back while its link to B is down: it cannot know yet that B rules the pair
        net.cut("A", "B");
        a = restart(a);
        java.util.concurrent.CompletableFuture<Void> w = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try (BlockDevice d = a.device()) {
                d.write(0, ByteBuffer.wrap(new byte[4096]), false);
            } catch (java.io.IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Awaitility.await("the write waits for B's answer").during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(3))
                .until(() -> !w.isDone());
        net.heal("A", "B");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> w.get(30, java.util.concurrent.TimeUnit.SECONDS))
                .as("B's later reign reaches A: the held write is refused, never taken")
                .satisfies(e -> assertThat(e.getMessage()).containsAnyOf("no longer the primary", "is a replica"));
        awaitFailedBack(b, a, "A", "replicating");
        assertThat(a.image()).isEqualTo(b.image());

        // a restarted primary whose peer stays away takes writes once the check is given up
        b.close();
        net.cut("A", "B");
        b = new ReplicationSite("B", net, b.storage, JOURNAL, VOL).reignCheck(300).start();
        b.repl.policyAdded(ALLOW);
        long t0 = System.nanoTime();
        try (BlockDevice d = b.device()) {
            d.write(0, ByteBuffer.wrap(new byte[4096]), false);
        }
        assertThat(java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0))
                .as("the write waited for the check's 300 ms").isGreaterThanOrEqualTo(250);
    }

    @Test
    void aReturningSiteWithADamagedHistoryIsRefusedNamingItAndTheNewPrimaryGoesOn() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(61);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, true);
        }
        b.awaitApplied(a.head());
        a.close();
        b.repl.takeover("default", false);
        try (BlockDevice d = b.device()) {
            write(d, rnd, 50, false);
        }
        // A's journal metadata (its history among it) is damaged while A is down
        a.storage.flipBit(ReplicationSite.ROOT.resolve("journals").resolve("default").resolve("journal.meta"), 40, 2);
        a = restart(a);
        Awaitility.await().atMost(Duration.ofSeconds(30))
                .until(() -> a.engine.group("default").map(g -> g.state().equals("failed")).orElse(false));
        assertThat(a.engine.group("default").orElseThrow().detail()).as("A names what is damaged").contains("CRC32C");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> {
            try (BlockDevice d = a.device()) {
                d.write(0, ByteBuffer.allocate(4096), false);
            }
        }).as("A takes no host write").hasMessageContaining("default");
        // B's pair waits, naming A's damage; nothing is copied into A, and B keeps taking writes
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> b.pair("A").detail().contains("CRC32C"));
        assertThat(b.pair("A").state()).isNotIn("in-sync", "resyncing");
        try (BlockDevice d = b.device()) {
            write(d, rnd, 20, false);
        }
        assertThat(b.pair("A").role()).isEqualTo("primary");
    }

    @Test
    void anAsyncFailbackCopiesTheUnionOfBothSidesWritesAndKeepsTheOldPrimarysInASnapshot() throws Exception {
        startPairWithPolicies("async");
        Random rnd = new Random(52);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 200, false);
        }
        b.awaitApplied(a.head());
        // A's cursor for B reached its head: what A keeps for B from here on is exactly what follows
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> a.group().journal.status().cursors().stream()
                .allMatch(c -> c.position().equals(a.head())));
        net.cut("A", "B");
        Set<Long> atA;
        try (BlockDevice d = a.device()) {
            atA = write(d, rnd, 100, false); // never copied: A's not-copied updates
        }
        byte[] aDiverged = a.image();
        a.close();
        b.repl.takeover("default", false);
        Set<Long> atB;
        try (BlockDevice d = b.device()) {
            atB = write(d, rnd, 100, false);
        }
        net.heal("A", "B");
        a = restart(a);
        awaitFailedBack(b, a, "A", "replicating");
        assertThat(a.image()).isEqualTo(b.image());
        Set<Long> union = new HashSet<>(atA);
        union.addAll(atB);
        assertThat(b.pair("A").resyncBlocks()).as("blocks copied back: A's divergent ones and B's new ones, once each")
                .isEqualTo(union.size());
        // A's divergent blocks are kept, readable, in the snapshot named after the fork point
        assertThat(divergedImage(a)).as("snapshot %s holds A's image before the failback", "its diverged snapshot").isEqualTo(aDiverged);
    }

    @Test
    void bothSidesWritingAfterTheForkIsASplitBrainThatCopiesNothing() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(53);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 100, false);
        }
        net.cut("A", "B");
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, false); // A goes on alone (lost-peer policy continue)
        }
        b.repl.takeover("default", false); // B never learned it is Outdated: the partition hid it
        try (BlockDevice d = b.device()) {
            write(d, rnd, 50, false);
        }
        byte[] atA = a.image();
        byte[] atB = b.image();
        net.heal("A", "B");
        awaitState(b, "A", "split-brain");
        assertThat(b.pair("A").detail()).contains("both sites wrote after").contains("doppel:resolve");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> "split-brain".equals(a.pair("B").state()));
        assertThat(a.image()).as("nothing overwritten at A").isEqualTo(atA);
        assertThat(b.image()).as("nothing overwritten at B").isEqualTo(atB);
        assertThat(a.pair("B").role()).as("A no longer takes host writes").isEqualTo("secondary");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.resolve("default", "C"))
                .hasMessageContaining("names neither this site");
        // the operator keeps B's writes: A's go to its snapshot, and A is resynced from B
        a.repl.resolve("default", "B");
        awaitFailedBack(b, a, "A", "in-sync");
        assertThat(a.image()).isEqualTo(atB);
        assertThat(divergedImage(a)).as("A's side of the split-brain, kept in %s", "its diverged snapshot").isEqualTo(atA);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.resolve("default", "B"))
                .hasMessageContaining("is not in split-brain");
    }

    @Test
    void aPlannedFailbackHandsTheRoleOverWithoutACopyAndRefusesLaterWritesAtTheOldPrimary() throws Exception {
        startPairWithPolicies("sync");
        try (BlockDevice d = a.device()) {
            write(d, new Random(54), 200, false);
        }
        java.util.Map<Long, byte[]> acknowledged = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicLong refused = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            Random rnd = new Random(55);
            try (BlockDevice d = a.device()) {
                while (!stop.get()) {
                    long block = rnd.nextInt(256);
                    byte[] data = new byte[4096];
                    rnd.nextBytes(data);
                    try {
                        d.write(block * 4096, ByteBuffer.wrap(data), false);
                        acknowledged.put(block, data);
                    } catch (java.io.IOException e) {
                        refused.incrementAndGet();
                    }
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        writer.start();
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> acknowledged.size() > 50);
        a.repl.failback("default");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> refused.get() > 10);
        stop.set(true);
        writer.join(30_000);
        assertThat(b.pair("A").role()).isEqualTo("primary");
        assertThat(a.pair("B").role()).isEqualTo("secondary");
        awaitState(b, "A", "in-sync");
        a.awaitApplied(b.head());
        byte[] image = b.image();
        assertThat(a.image()).isEqualTo(image);
        for (java.util.Map.Entry<Long, byte[]> w : acknowledged.entrySet()) {
            byte[] at = java.util.Arrays.copyOfRange(image, (int) (w.getKey() * 4096), (int) (w.getKey() * 4096 + 4096));
            assertThat(at).as("the last acknowledged write to block %d is at the new primary", w.getKey()).isEqualTo(w.getValue());
        }
        assertThat(b.pair("A").resyncBlocks()).as("no copy: the role moved with the records").isZero();
        try (BlockDevice d = b.device()) {
            write(d, new Random(56), 20, false); // the new primary takes the writes
        }
        assertThat(a.head()).isEqualTo(b.head());
    }

    @Test
    void aFailbackWhileAPassRunsIsRefusedAndTheSiteKeepsTakingWrites() throws Exception {
        startBoth(JOURNAL);
        a.repl.policyAdded(ALLOW);
        b.repl.policyAdded(ALLOW);
        fillWithRandomData(a, 71);
        net.delay("A", "B", 300); // the initial copy takes a while
        a.repl.create("default", "B", "sync", "continue");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> a.pair("B").resyncDone() > 0);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.failback("default"))
                .hasMessageContaining("B is not caught up").hasMessageContaining("blocks in its map");
        assertThat(a.pair("B").role()).as("a refused failback changes nothing").isEqualTo("primary");
        assertThat(writes(a)).as("the primary still takes host writes").isTrue();
        net.delay("A", "B", 0);
        awaitState(a, "B", "in-sync");
    }

    @Test
    void aFailbackWhoseHandoverGoesUnansweredRefusesWritesUntilThePeerSaysWhetherItTookTheRole() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(63);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, true);
        }
        // the HANDOVER is lost on its way: B never takes the role, but A cannot know that
        net.cutOnFrame("A", "B", Wire.HANDOVER, false);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.failback("default")).hasMessageContaining("in doubt");
        assertThatRefused(a, "did not answer");
        net.heal("A", "B");
        Awaitility.await("A's writes taken again once B answers as the secondary").atMost(Duration.ofSeconds(30))
                .until(() -> writes(a));
        assertThat(a.pair("B").role()).isEqualTo("primary");
        assertThat(b.pair("A").role()).isEqualTo("secondary");

        // B takes the role, and the link breaks before its answer reaches A
        awaitState(a, "B", "in-sync");
        net.cutOnFrame("A", "B", Wire.HANDOVER, true);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.repl.failback("default")).hasMessageContaining("in doubt");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> "primary".equals(b.pair("A").role()));
        assertThatRefused(a, "did not answer"); // B rules now: A taking writes would make both sides write
        net.heal("A", "B");
        Awaitility.await("A becomes B's secondary").atMost(Duration.ofSeconds(30))
                .until(() -> "secondary".equals(a.pair("B").role()));
        try (BlockDevice d = b.device()) {
            write(d, rnd, 30, false);
        }
        awaitFailedBack(b, a, "A", "in-sync");
        assertThat(a.image()).isEqualTo(b.image());
        assertThat(b.pair("A").state()).isNotEqualTo("split-brain");
    }

    private static void assertThatRefused(ReplicationSite s, String why) {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> {
            try (BlockDevice d = s.device()) {
                d.write(0, ByteBuffer.allocate(4096), false);
            }
        }).hasMessageContaining(why);
    }

    private static boolean writes(ReplicationSite s) {
        try (BlockDevice d = s.device()) {
            d.write(4096, ByteBuffer.allocate(4096), false);
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    @Test
    void aTakeoverKilledBeforeItTookTheRoleLeavesTheSecondaryFollowingThePrimary() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(67);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, true);
        }
        b.awaitApplied(a.head());
        // B is killed in the middle of a takeover (forced during a partition): its journal opened
        // the new epoch and holds the takeover's marker, but the pair never became B's
        net.cut("A", "B");
        io.doppel.api.journal.Journal j = b.group().journal;
        j.beginEpoch(j.epoch() + 1, b.engine.site().id());
        b.engine.takeoverMarker(b.group(), "takeover of default from A (killed before it took the role)");
        b.kill();
        b = restart(b);
        assertThat(b.pair("A").role()).isEqualTo("secondary");
        assertThatRefused(b, "is a replica");
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, false); // A goes on alone meanwhile
        }
        net.heal("A", "B");
        // B wrote no block in its epoch: no split-brain, it follows A again
        awaitState(a, "B", "in-sync");
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> b.pair("A").consistent()
                && !b.group().tracker.watermark().isBefore(a.head()));
        assertThat(b.image()).isEqualTo(a.image());
        assertThat(a.pair("B").state()).isEqualTo("in-sync");
    }

    @Test
    void aSplitBrainResolvedKeepingTheSecondarysSideMakesItThePrimary() throws Exception {
        startPairWithPolicies("sync");
        Random rnd = new Random(57);
        try (BlockDevice d = a.device()) {
            write(d, rnd, 100, false);
        }
        net.cut("A", "B");
        try (BlockDevice d = a.device()) {
            write(d, rnd, 50, false);
        }
        b.repl.takeover("default", false);
        try (BlockDevice d = b.device()) {
            write(d, rnd, 50, false);
        }
        byte[] atA = a.image();
        byte[] atB = b.image();
        net.heal("A", "B");
        awaitState(b, "A", "split-brain");
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> "split-brain".equals(a.pair("B").state()));
        // at A, now B's secondary: keep A's writes; A becomes the primary and B gives its side up
        a.repl.resolve("default", a.engine.site().id());
        awaitFailedBack(a, b, "B", "in-sync");
        assertThat(a.pair("B").role()).isEqualTo("primary");
        assertThat(b.pair("A").role()).isEqualTo("secondary");
        assertThat(b.image()).as("B now holds A's side").isEqualTo(atA);
        assertThat(a.image()).isEqualTo(atA);
        assertThat(divergedImage(b)).as("B's side of the split-brain, kept in %s", "its diverged snapshot").isEqualTo(atB);
    }
}
