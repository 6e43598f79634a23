package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.ShellResult;
import io.doppel.itests.tools.CheckResult;
import io.doppel.itests.tools.FaultProxy;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.ReplicaChecker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
 * A cascade: A copies a group synchronously to B, and C pulls it from B's journal (B holds
 * A's records at A's positions and applies them to its own volumes). Each link goes through
 * a fault proxy that counts its bytes. The oracle workload writes r1 and r2 on A; fio writes
 * f1 with crc32c verification.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CascadeIT {

    private static final Logger LOG = LoggerFactory.getLogger(CascadeIT.class);

    static final String GROUP = "cas";
    static final List<String> ORACLE_VOLUMES = List.of("r1", "r2");
    static final String FIO_VOLUME = "f1";
    static final String SIZE = "64M";
    static final long VOLUME_BYTES = 64L << 20;
    static final long ORACLE_BLOCKS = 4096;
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    static Appliance a;
    static Appliance b;
    static Appliance c;
    static FaultProxy aToB;
    static FaultProxy bToC;
    static Path work;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("a", "b", "c");
        for (Appliance site : cluster.appliances()) {
            // the sites share this machine's CPUs; this test is about what arrives, not pacing
            site.configure("io.doppel.copy.async", "busyLoad", "1");
        }
        cluster.startAll();
        a = cluster.appliance("a");
        b = cluster.appliance("b");
        c = cluster.appliance("c");
        work = Scenario.directory(cluster.workDir(), "work");
        aToB = Sites.proxyTo(b);
        bToC = Sites.proxyTo(c);
        Sites.connect(a, b, aToB);
        Sites.connect(b, c, bToC);
        a.execOk("doppel:group-create " + GROUP);
        for (String v : volumes()) {
            a.execOk("doppel:volume-create --group " + GROUP + " " + v + " " + SIZE);
            a.execOk("doppel:export-add " + v);
        }
    }

    @AfterAll
    static void closeProxies() {
        for (FaultProxy p : new FaultProxy[] {aToB, bToC}) {
            if (p != null) {
                p.close();
            }
        }
    }

    static List<String> volumes() {
        List<String> all = new ArrayList<>(ORACLE_VOLUMES);
        all.add(FIO_VOLUME);
        return all;
    }

    @Test
    @Order(1)
    void theLastSiteOfACascadeEqualsThePrimaryAndEachSnapshotOfItIsAPrefix() throws Exception {
        FioJob before = FioJob.of("before", a.nbdUri(FIO_VOLUME), "8M", 21).offset("0");
        FioResult wrote = before.run(work, Duration.ofMinutes(2), before.writeCommand("write"));
        assertThat(wrote.exitCode()).as(wrote.describe()).isZero();

        a.execOk("doppel:pair-create --mode sync " + GROUP + " b");
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        // a pair from a copy pushes nothing: it must pull
        ShellResult refused = b.exec("doppel:pair-create --mode sync " + GROUP + " c");
        assertThat(refused.output() + refused.errors()).as("a pushed pair from a copy is refused: %s", refused.describe())
                .contains("a pair from a copy (a cascade) pulls");
        b.execOk("doppel:pair-create --mode async " + GROUP + " c");
        Sites.awaitPair(b, GROUP, "c", "replicating", PAIR_TIMEOUT, p -> p.path("state").asText().equals("replicating"));
        for (Appliance target : List.of(b, c)) {
            for (String v : volumes()) {
                target.execOk("doppel:export-add " + v);
            }
        }

        FioJob load = FioJob.of("load", a.nbdUri(FIO_VOLUME), "16M", 22).offset("16M").ioDepth(16);
        List<String> snapshots = new ArrayList<>();
        History history;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 200, null, work)) {
            var fio = load.start(work, load.writeCommand("write"));
            Random random = new Random(8);
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

        awaitCascadeCaughtUp();
        JsonNode onB = Sites.pair(b, GROUP, "c");
        LOG.info("B's pair to C after the load: {}", onB);
        assertThat(Sites.seq(Scenario.journal(c, GROUP), "head")).as("C's journal holds A's positions")
                .isEqualTo(Sites.seq(Scenario.journal(a, GROUP), "head"));
        for (String v : volumes()) {
            ProcessResult cmp = Sites.compare(a.nbdUri(v), c.nbdUri(v));
            assertThat(cmp.exitCode()).as("qemu-img compare %s on a and c\n%s", v, cmp.describe()).isZero();
        }
        for (FioJob job : List.of(before, load)) {
            FioJob there = job.against(c.nbdUri(FIO_VOLUME));
            FioResult verified = there.run(work, Duration.ofMinutes(2), there.verifyCommand(false));
            assertThat(verified.exitCode()).as("fio verify of %s on c\n%s", job, verified.describe()).isZero();
        }
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
        for (String snapshot : snapshots) {
            CheckResult prefix = ReplicaChecker.checkPrefix(history, OracleRun.snapshotImages(c, ORACLE_VOLUMES, snapshot, history));
            LOG.info("Snapshot {} of C: {}", snapshot, prefix.describe());
            OracleRun.ok(prefix);
        }

        // negative control: with B's pair to C suspended, C falls behind and the compare notices
        b.execOk("doppel:pair-suspend " + GROUP + " c");
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(a.nbdUri("r1"), "write -P 0x5a 0 4k"))).isTrue();
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isEqualTo(1);
        b.execOk("doppel:pair-resume " + GROUP + " c");
        awaitCascadeCaughtUp();
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isZero();
    }

    @Test
    @Order(2)
    void theMiddleSiteKilledUnderLoadAndRestartedLeavesTheLastSiteToCatchUpWithoutAFullCopy() throws Exception {
        zeroOracleRegion();
        History history;
        long killedAt;
        Map<String, String> consistentSnapshots = new LinkedHashMap<>();
        long logOffset;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 201, null, work)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1000);
            killedAt = oracle.acknowledged();
            b.kill();
            // A goes on (lost-peer policy continue): B lacks these, C with it
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > killedAt + 1000);
            bToC.resetCounters();
            logOffset = b.karafLog().size();
            b.start();
            // snapshots of C while B resyncs from A: C said consistent before and after each,
            // so each must be the image of a prefix of A's writes
            for (int i = 0; i < 6; i++) {
                JsonNode before = Sites.pair(c, GROUP, "b");
                String bState = stateAt(b, "a");
                String name = "restart" + i;
                c.execOk("doppel:snapshot-create --group " + GROUP + " " + name);
                JsonNode after = Sites.pair(c, GROUP, "b");
                if (before.path("consistent").asBoolean() && after.path("consistent").asBoolean()) {
                    consistentSnapshots.put(name, bState);
                }
                await().pollDelay(Duration.ofMillis(300)).until(() -> true);
            }
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > killedAt + 2000);
            history = oracle.stop();
        }
        assertThat(history.failed()).as("host writes failed at A while B was away (lost-peer policy continue)").isZero();
        LOG.info("Snapshots of C taken while it said consistent, with B's state then: {}", consistentSnapshots);
        assertThat(consistentSnapshots).as("snapshots of C taken while consistent").isNotEmpty();
        for (Map.Entry<String, String> snapshot : consistentSnapshots.entrySet()) {
            CheckResult prefix = ReplicaChecker.checkPrefix(history, OracleRun.snapshotImages(c, ORACLE_VOLUMES, snapshot.getKey(), history));
            LOG.info("Snapshot {} of C (B {}): {}", snapshot.getKey(), snapshot.getValue(), prefix.describe());
            OracleRun.ok(prefix);
        }
        Sites.awaitPair(a, GROUP, "b", "in sync after B's restart", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("in-sync"));
        awaitCascadeCaughtUp();
        long bytes = bToC.bytes(FaultProxy.Direction.UPSTREAM);
        long written = history.writes().stream().mapToLong(w -> w.blockCount()).sum() * 4096;
        // the passes B ran to C after its restart: blocks from its map, never the whole group
        long passBlocks = 0;
        int passes = 0;
        Matcher m = Pattern.compile("resync pass to c done \\((\\d+) blocks\\)").matcher(b.karafLog().textSince(logOffset));
        while (m.find()) {
            passBlocks += Long.parseLong(m.group(1));
            passes++;
        }
        long groupBlocks = 3 * VOLUME_BYTES / 4096;
        LOG.info("C caught up after B's restart: {} pass(es) from B of {} blocks in all (the group has {}); {} bytes from B,"
                + " {} bytes written in the run", passes, passBlocks, groupBlocks, bytes, written);
        assertThat(b.karafLog().textSince(logOffset)).as("B's log after its restart").doesNotContain("copying the whole group");
        assertThat(passBlocks).as("blocks B's passes copied to C after its restart").isLessThan(groupBlocks / 2);
        assertThat(bytes).as("bytes B sent C after its restart: records and the passes' blocks, no full copy")
                .isLessThan(written + passBlocks * 4096 * 11 / 10 + (8L << 20));
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
        for (String v : volumes()) {
            ProcessResult cmp = Sites.compare(a.nbdUri(v), c.nbdUri(v));
            assertThat(cmp.exitCode()).as("compare %s of A with C\n%s", v, cmp.describe()).isZero();
        }
    }

    // ---------------------------------------------------------------------------------- helpers

    /** B caught up with A, then C with B: the whole cascade idle. */
    private static void awaitCascadeCaughtUp() {
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(b, GROUP, "c", PAIR_TIMEOUT);
    }

    /** The state of {@code site}'s pair with {@code peer}, or why there is none (yet: a site just started). */
    private static String stateAt(Appliance site, String peer) {
        try {
            return Sites.pair(site, GROUP, peer).path("state").asText();
        } catch (RuntimeException e) {
            return "no status (" + e.getMessage().strip().lines().reduce((x, y) -> y).orElse("") + ")";
        }
    }

    /** Zeroes the oracle's blocks on A and waits until C has it, so a history never meets an earlier one's blocks. */
    private static void zeroOracleRegion() throws Exception {
        OracleRun.zero(a, ORACLE_VOLUMES, ORACLE_BLOCKS);
        awaitCascadeCaughtUp();
    }
}
