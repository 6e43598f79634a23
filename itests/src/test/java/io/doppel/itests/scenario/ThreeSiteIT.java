package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.tools.CheckResult;
import io.doppel.itests.tools.FaultProxy;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.ReplicaChecker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One primary, A, copying a consistency group of three volumes to B synchronously and to C
 * asynchronously at once, each link through a fault proxy that the tests cut, heal and count.
 * <p>
 * The oracle workload writes volumes r1 and r2 (its blocks name the write that made them);
 * fio writes f1 with crc32c verification. Each test starts from a zeroed oracle region (the
 * zeroing replicates too), so a history never meets the blocks of an earlier one.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ThreeSiteIT {

    private static final Logger LOG = LoggerFactory.getLogger(ThreeSiteIT.class);

    static final String GROUP = "rep";
    static final List<String> ORACLE_VOLUMES = List.of("r1", "r2");
    static final String FIO_VOLUME = "f1";
    static final String SIZE = "128M";
    static final long VOLUME_BYTES = 128L << 20;
    /** Blocks of each oracle volume the workload writes (32 MiB). */
    static final long ORACLE_BLOCKS = 8192;
    static final long BLOCK = 4096;
    /** Small journal segments and capacity, so that a long cut overflows A's journal quickly. */
    static final String SEGMENT = "33M";
    static final String JOURNAL_CAPACITY = "132M";
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    static Appliance a;
    static Appliance b;
    static Appliance c;
    static FaultProxy toB;
    static FaultProxy toC;
    static Path work;
    static int seed = 100;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("a", "b", "c");
        for (Appliance site : cluster.appliances()) {
            site.configure("io.doppel.journal", "segmentBytes", SEGMENT);
            // the three sites share this machine's CPUs: each would take the others' work for its
            // own load and pull less often; this test is about what arrives, not about pacing
            site.configure("io.doppel.copy.async", "busyLoad", "1");
        }
        cluster.startAll();
        a = cluster.appliance("a");
        b = cluster.appliance("b");
        c = cluster.appliance("c");
        work = Scenario.directory(cluster.workDir(), "work");
        toB = Sites.proxyTo(b);
        toC = Sites.proxyTo(c);
        Sites.connect(a, b, toB);
        Sites.connect(a, c, toC);
        a.execOk("doppel:group-create --journal-capacity " + JOURNAL_CAPACITY + " " + GROUP);
        for (String v : volumes()) {
            a.execOk("doppel:volume-create --group " + GROUP + " " + v + " " + SIZE);
            a.execOk("doppel:export-add " + v);
        }
    }

    @AfterAll
    static void closeProxies() {
        if (toB != null) {
            toB.close();
        }
        if (toC != null) {
            toC.close();
        }
    }

    static List<String> volumes() {
        List<String> all = new ArrayList<>(ORACLE_VOLUMES);
        all.add(FIO_VOLUME);
        return all;
    }

    @Test
    @Order(1)
    void pairsCopyTheGroupAndFollowTheLoad() throws Exception {
        // data before the pairs exist: the initial copy must carry it
        FioJob before = FioJob.of("before", a.nbdUri(FIO_VOLUME), "16M", 11).offset("0");
        FioResult wrote = before.run(work, Duration.ofMinutes(2), before.writeCommand("write"));
        assertThat(wrote.exitCode()).as(wrote.describe()).isZero();

        a.execOk("doppel:pair-create --mode sync " + GROUP + " b");
        a.execOk("doppel:pair-create --mode async " + GROUP + " c");
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitPair(a, GROUP, "c", "replicating", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("replicating"));
        for (Appliance target : List.of(b, c)) {
            for (String v : volumes()) {
                target.execOk("doppel:export-add " + v);
            }
        }
        JsonNode onB = Sites.pair(b, GROUP, "a");
        assertThat(onB.path("role").asText()).isEqualTo("secondary");
        ProcessResult refused = Scenario.qemuIo(b.nbdUri("r1"), "write -P 0x11 0 4k");
        assertThat(Scenario.qemuIoSucceeded(refused)).as("a host write to a replica must fail").isFalse();

        // the oracle on r1 and r2, fio on f1, and consistent snapshots of C taken meanwhile
        FioJob load = FioJob.of("load", a.nbdUri(FIO_VOLUME), "32M", 12).offset("32M").ioDepth(16);
        List<String> snapshots = new ArrayList<>();
        History history;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, seed++, null, work)) {
            var fio = load.start(work, load.writeCommand("write"));
            Random random = new Random(7);
            for (int i = 0; i < 3; i++) {
                await().pollDelay(Duration.ofMillis(500 + random.nextInt(1500))).until(() -> true);
                String name = "during" + i;
                c.execOk("doppel:snapshot-create --group " + GROUP + " " + name);
                snapshots.add(name);
            }
            FioResult loaded = load.result(work, "write", fio.waitFor(Duration.ofMinutes(2)));
            assertThat(loaded.exitCode()).as(loaded.describe()).isZero();
            history = oracle.stop();
        }
        assertThat(history.acknowledged()).as("acknowledged oracle writes").isGreaterThan(500);

        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        for (Appliance target : List.of(b, c)) {
            for (String v : volumes()) {
                ProcessResult cmp = Sites.compare(a.nbdUri(v), target.nbdUri(v));
                assertThat(cmp.exitCode()).as("qemu-img compare %s on a and %s\n%s", v, target.name(), cmp.describe())
                        .isZero();
            }
            for (FioJob job : List.of(before, load)) {
                FioJob there = job.against(target.nbdUri(FIO_VOLUME));
                FioResult verified = there.run(work, Duration.ofMinutes(2), there.verifyCommand(false));
                assertThat(verified.exitCode()).as("fio verify of %s on %s\n%s", job, target.name(),
                        verified.describe()).isZero();
                assertThat(verified.reads()).as("blocks fio verified").isGreaterThan(1000);
            }
        }
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
        for (String snapshot : snapshots) {
            CheckResult prefix = ReplicaChecker.checkPrefix(history,
                    OracleRun.snapshotImages(c, ORACLE_VOLUMES, snapshot, history));
            LOG.info("Snapshot {} of C: {}", snapshot, prefix.describe());
            OracleRun.ok(prefix);
        }

        // negative control: a suspended pair leaves C behind, and the compare notices
        a.execOk("doppel:pair-suspend " + GROUP + " c");
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(a.nbdUri("r1"), "write -P 0x5a 0 4k"))).isTrue();
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isEqualTo(1);
        a.execOk("doppel:pair-resume " + GROUP + " c");
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isZero();
    }

    @Test
    @Order(2)
    void asyncLinkCutThenHealedCatchesUpWithoutAFullCopy() throws Exception {
        zeroOracleRegion();
        toC.cut();
        History history;
        // fewer writes than A's journal holds: C catches up from the journal alone
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, seed++, 1500, work)) {
            history = oracle.awaitEnd();
        }
        Sites.awaitPair(c, GROUP, "a", "disconnected", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("disconnected"));
        assertThat(Sites.pair(a, GROUP, "c").path("mapBlocks").asLong()).as("nothing folded").isZero();
        toC.resetCounters();
        toC.heal();
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        long bytes = toC.bytes(FaultProxy.Direction.UPSTREAM);
        long written = history.writes().stream().mapToLong(w -> w.blockCount()).sum() * BLOCK;
        LOG.info("Catch-up after a short cut: {} bytes to C for {} bytes written", bytes, written);
        assertThat(bytes).as("bytes to C after the heal: the records, not the volumes")
                .isBetween(written, written * 12 / 10 + (1 << 20));
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
    }

    @Test
    @Order(3)
    void longCutOverflowsIntoTheMapAndCatchesUpFromIt() throws Exception {
        zeroOracleRegion();
        toC.cut();
        History history;
        JsonNode folded;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, seed++, null, work)) {
            folded = Sites.awaitPair(a, GROUP, "c", "to fold into its map", Duration.ofMinutes(2),
                    p -> p.path("mapBlocks").asLong() > 0);
            // more writes after the fold: the map and the journal both carry the catch-up
            await().pollDelay(Duration.ofSeconds(2)).until(() -> true);
            history = oracle.stop();
        }
        LOG.info("A folded C's records into its map: {}", folded);
        JsonNode journal = Scenario.journal(a, GROUP);
        assertThat(journal.path("usedBytes").asLong()).as("A's journal stays within its capacity")
                .isLessThanOrEqualTo(journal.path("capacityBytes").asLong());
        toC.resetCounters();
        toC.heal();
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        long bytes = toC.bytes(FaultProxy.Direction.UPSTREAM);
        long written = history.writes().stream().mapToLong(w -> w.blockCount()).sum() * BLOCK;
        long dirty = history.blocksMaybeWrittenAfter(0).size() * BLOCK;
        long surelyDirty = history.blocksWrittenAfter(0).size() * BLOCK;
        LOG.info("Catch-up after an overflow: {} bytes to C; {} bytes written, {} distinct dirty", bytes, written,
                dirty);
        assertThat(written).as("the workload wrote more than A's journal holds").isGreaterThan(132L << 20);
        assertThat(bytes).as("bytes to C against the distinct dirty blocks (%d bytes)", dirty)
                .isBetween(surelyDirty * 9 / 10, dirty * 11 / 10);
        assertThat(Sites.pair(a, GROUP, "c").path("mapBlocks").asLong()).isZero();
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
        for (String v : volumes()) {
            assertThat(Sites.compare(a.nbdUri(v), c.nbdUri(v)).exitCode()).as("compare %s with C", v).isZero();
        }
    }

    @Test
    @Order(4)
    void syncLinkCutMarksThePeerOutdatedDurablyThenResyncsOnlyTheMap() throws Exception {
        zeroOracleRegion();
        History history;
        long cutTick;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, seed++, null, work)) {
            await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
            cutTick = oracle.tick();
            toB.cut();
            Sites.awaitPair(a, GROUP, "b", "Outdated", PAIR_TIMEOUT, p -> p.path("outdated").asBoolean());
            long mark = oracle.acknowledged();
            // writes go on (policy continue) and B lacks them
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > mark + 200);
            history = oracle.stop();
        }
        CheckResult stale = ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history));
        assertThat(stale.ok()).as("B must lack writes acknowledged after the cut: %s", stale.describe()).isFalse();

        // the mark is durable: it survives SIGKILL of both sites
        a.kill();
        b.kill();
        b.start();
        a.start();
        JsonNode after = Sites.pair(a, GROUP, "b");
        assertThat(after.path("outdated").asBoolean()).as("Outdated after both restarts: %s", after).isTrue();
        long mapBlocks = after.path("mapBlocks").asLong();
        assertThat(mapBlocks).as("blocks B lacks, in A's map").isPositive();

        toB.resetCounters();
        toB.heal();
        Sites.awaitPair(a, GROUP, "b", "in sync again", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("in-sync") && !p.path("outdated").asBoolean());
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        long bytes = toB.bytes(FaultProxy.Direction.UPSTREAM);
        long lacked = history.blocksMaybeWrittenAfter(cutTick).size();
        LOG.info("Resync after the sync cut: {} bytes to B for a map of {} blocks and {} blocks written after the cut",
                bytes, mapBlocks, lacked);
        // the map (the hot extents of the killed A among them) and what B lacks, each block once
        assertThat(bytes).as("bytes to B: the map's blocks, not the volumes")
                .isLessThan((mapBlocks + lacked) * BLOCK * 11 / 10 + (1 << 20))
                .isLessThan(3 * VOLUME_BYTES);
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));
        for (String v : volumes()) {
            assertThat(Sites.compare(a.nbdUri(v), b.nbdUri(v)).exitCode()).as("compare %s with B", v).isZero();
        }
    }

    @Test
    @Order(5)
    void syncPrimaryKilledUnderLoadLosesNoAcknowledgedWrite() throws Exception {
        zeroOracleRegion();
        History history;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, seed++, null, work)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 2000);
            a.kill();
            history = oracle.stop();
        }
        assertThat(history.unknown()).as("writes in flight at the kill").isPositive();
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));

        a.start();
        Sites.awaitPair(a, GROUP, "b", "in sync after the restart", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        for (String v : volumes()) {
            ProcessResult cmp = Sites.compare(a.nbdUri(v), b.nbdUri(v));
            assertThat(cmp.exitCode()).as("compare %s of the restarted A with B\n%s", v, cmp.describe()).isZero();
        }
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(a, ORACLE_VOLUMES, history)));
    }

    // ---------------------------------------------------------------------------------- helpers

    /** Zeroes the oracle's blocks on A and waits until both targets have it. */
    private static void zeroOracleRegion() throws Exception {
        OracleRun.zero(a, ORACLE_VOLUMES, ORACLE_BLOCKS);
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
    }
}
