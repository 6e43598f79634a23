package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.ShellResult;
import io.doppel.itests.tools.FaultProxy;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.ReplicaChecker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
 * Failover of a pair between two real appliances: the primary is killed with SIGKILL under the
 * oracle workload, the secondary takes over with {@code doppel:takeover}, writes more, and the
 * old primary is restarted. It must become the secondary and end identical to the new primary,
 * having received only the blocks that differ (counted by the fault proxy A dials B through).
 * Sync first, then a planned failback, a split-brain, and the async form with the failback pass
 * killed halfway.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FailoverIT {

    private static final Logger LOG = LoggerFactory.getLogger(FailoverIT.class);

    static final String GROUP = "fo";
    static final List<String> ORACLE_VOLUMES = List.of("r1", "r2");
    static final String SIZE = "256M";
    static final long VOLUME_BYTES = 256L << 20;
    static final long ORACLE_BLOCKS = 4096;
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);
    /** What B writes after the takeover: 256 blocks of r1 at 64 MiB, outside the oracle's region. */
    static final long B_OFFSET = 64L << 20;
    static final long B_BLOCKS = 256;

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    static Appliance a;
    static Appliance b;
    static FaultProxy aToB;
    static Path work;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("a", "b");
        cluster.startAll();
        a = cluster.appliance("a");
        b = cluster.appliance("b");
        work = Scenario.directory(cluster.workDir(), "work");
        aToB = Sites.proxyTo(b);
        Sites.connect(a, b, aToB);
        a.execOk("doppel:group-create " + GROUP);
        for (String v : ORACLE_VOLUMES) {
            a.execOk("doppel:volume-create --group " + GROUP + " " + v + " " + SIZE);
            a.execOk("doppel:export-add " + v);
        }
    }

    @AfterAll
    static void closeProxy() {
        if (aToB != null) {
            aToB.close();
        }
    }

    @Test
    @Order(1)
    void theKilledPrimaryReturnsAsTheSecondaryAndGetsOnlyTheBlocksThatDiffer() throws Exception {
        a.execOk("doppel:pair-create --mode sync " + GROUP + " b");
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        for (String v : ORACLE_VOLUMES) {
            b.execOk("doppel:export-add " + v);
        }
        ShellResult notSecondary = a.exec("doppel:takeover " + GROUP);
        assertThat(notSecondary.output() + notSecondary.errors()).as(notSecondary.describe())
                .contains("not the secondary of a pair");
        ShellResult connected = b.exec("doppel:takeover " + GROUP);
        assertThat(connected.output() + connected.errors()).as("manual policy, primary reachable: %s", connected.describe())
                .contains("a is connected and still the primary");

        History history;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 400, null, work)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1500);
            a.kill();
            history = oracle.stop();
        }
        LOG.info("A killed: {} oracle writes acknowledged, {} failed, {} unknown", history.acknowledged(), history.failed(),
                history.unknown());
        Sites.awaitPair(b, GROUP, "a", "to see A gone", PAIR_TIMEOUT, p -> !p.path("state").asText().equals("replicating"));
        JsonNode took = b.execJson("doppel:takeover --json " + GROUP);
        LOG.info("Takeover at B: {}", took);
        assertThat(took.path("role").asText()).isEqualTo("primary");
        assertThat(took.path("epoch").asLong()).as("a new epoch").isGreaterThan(1);
        assertThat(took.path("lastDecision").asText()).contains("takeover");
        // nothing A acknowledged is missing at B
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));

        ProcessResult wrote = Scenario.qemuIo(b.nbdUri("r1"), "write -P 0x77 " + B_OFFSET + " " + B_BLOCKS * 4096);
        assertThat(Scenario.qemuIoSucceeded(wrote)).as("B takes host writes: %s", wrote.describe()).isTrue();

        aToB.resetCounters();
        long logOffset = b.karafLog().size();
        a.start();
        awaitSecondaryOf(b, a);
        assertSameVolumes(b, a);
        ProcessResult refused = Scenario.qemuIo(a.nbdUri("r2"), "write -P 0x11 0 4k");
        assertThat(Scenario.qemuIoSucceeded(refused)).as("A refuses host writes now: %s", refused.describe()).isFalse();

        // what A received: the pass of the union of both sides' blocks, and B's records
        long passBlocks = passBlocksSince(b, "a", logOffset);
        long bytes = aToB.bytes(FaultProxy.Direction.DOWNSTREAM);
        long union = passBlocks + B_BLOCKS; // B's own blocks may be in the pass too: then this counts them twice
        JsonNode status = b.execJson("doppel:failover-status --json " + GROUP).get(0);
        LOG.info("Failback: {} bytes from B to A; {} blocks in B's pass(es) (the group has {}); B's status {}", bytes,
                passBlocks, 2 * VOLUME_BYTES / 4096, status);
        // A's part is mostly its hot extents at the kill (the activity log: every block it may
        // have written without B), B's part the blocks it wrote since the takeover
        assertThat(status.path("divergentBlocks").asLong()).as("blocks A reported as its own after the fork").isPositive();
        assertThat(passBlocks).as("the pass: the union of both sides' blocks")
                .isLessThanOrEqualTo(status.path("divergentBlocks").asLong() + B_BLOCKS)
                .isLessThan(2 * VOLUME_BYTES / 4096 / 8);
        assertThat(bytes).as("bytes A received: within 10% of the blocks that differ")
                .isLessThanOrEqualTo(union * 4096 * 11 / 10 + (1L << 20))
                .isLessThan(2 * VOLUME_BYTES / 8);
        assertThat(b.karafLog().textSince(logOffset)).doesNotContain("copying the whole group");
        // A's own blocks after the fork stay readable in a snapshot named after the fork point
        String fork = status.path("fork").asText();
        String kept = "diverged-" + fork.replace('/', '-');
        JsonNode snapshots = a.execJson("doppel:snapshot-list --json r1");
        assertThat(snapshots.findValuesAsText("name")).as("snapshots of r1 at A").contains(kept);
        JsonNode atA = a.execJson("doppel:failover-status --json " + GROUP).get(0);
        assertThat(atA.path("role").asText()).isEqualTo("secondary");
        assertThat(atA.path("lastDecision").asText()).contains("became the secondary of b");
    }

    @Test
    @Order(2)
    void aPlannedFailbackUnderTheOracleMovesTheRoleBackWithoutACopy() throws Exception {
        // B is the primary since the first test, A its secondary
        OracleRun.zero(b, ORACLE_VOLUMES, ORACLE_BLOCKS);
        Sites.awaitCaughtUp(b, GROUP, "a", PAIR_TIMEOUT);
        long logOffset = b.karafLog().size();
        long aLogOffset = a.karafLog().size();
        History history;
        JsonNode handed;
        long acknowledgedAtB;
        try (OracleRun oracle = OracleRun.start(b, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 401, null, work, a)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1000);
            handed = b.execJson("doppel:failback --json " + GROUP);
            acknowledgedAtB = oracle.acknowledgedAt(b);
            // refused at B, the workload reconnects to A by itself and goes on writing there
            await("the workload going on at A").atMost(Duration.ofMinutes(1))
                    .until(() -> oracle.switches() >= ORACLE_VOLUMES.size() && oracle.acknowledgedAt(a) > 500);
            assertThat(oracle.acknowledgedAt(b)).as("no write acknowledged at B after the switch").isEqualTo(acknowledgedAtB);
            history = oracle.stop();
        }
        LOG.info("Failback to A: {}; oracle {} acknowledged ({} at B before the switch), {} failed, {} unknown", handed,
                history.acknowledged(), acknowledgedAtB, history.failed(), history.unknown());
        assertThat(handed.path("role").asText()).isEqualTo("secondary");
        assertThat(history.failed()).as("writes refused at B after the switch").isPositive();
        JsonNode atA = a.execJson("doppel:failover-status --json " + GROUP).get(0);
        assertThat(atA.path("role").asText()).isEqualTo("primary");
        assertThat(atA.path("epoch").asLong()).isGreaterThan(2);
        assertThat(history.acknowledged()).as("writes acknowledged at A after the switch").isGreaterThan(acknowledgedAtB + 500);
        // every acknowledged write, at B before the switch and at A after it, is at the new
        // primary; none that failed was applied
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(a, ORACLE_VOLUMES, history)));
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        assertSameVolumes(a, b);
        assertThat(b.karafLog().textSince(logOffset)).as("no pass after a planned switch").doesNotContain("resync pass to");
        assertThat(a.karafLog().textSince(aLogOffset)).as("no pass from the new primary").doesNotContain("resync pass to b");
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(a.nbdUri("r2"), "write -P 0x21 0 4k"))).isTrue();
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(b.nbdUri("r2"), "write -P 0x22 0 4k"))).isFalse();
    }

    @Test
    @Order(3)
    void writesOnBothSidesOfAPartitionAreASplitBrainUntilResolved() throws Exception {
        // A is the primary again since the second test
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        aToB.cut();
        ProcessResult atA = Scenario.qemuIo(a.nbdUri("r2"), "write -P 0x5a 0 64k");
        assertThat(Scenario.qemuIoSucceeded(atA)).as("A goes on alone (lost-peer policy continue): %s", atA.describe())
                .isTrue();
        // B takes over once it sees A gone (the manual policy refuses while A is connected)
        await("B's takeover").atMost(PAIR_TIMEOUT).pollInterval(Duration.ofMillis(500))
                .until(() -> b.exec("doppel:takeover " + GROUP).output().contains("is now primary here"));
        ProcessResult atB = Scenario.qemuIo(b.nbdUri("r2"), "write -P 0xa5 128k 64k");
        assertThat(Scenario.qemuIoSucceeded(atB)).as(atB.describe()).isTrue();
        aToB.heal();
        JsonNode split = Sites.awaitPair(b, GROUP, "a", "split-brain", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("split-brain"));
        LOG.info("Split-brain at B: {}", split.path("detail").asText());
        assertThat(split.path("detail").asText()).contains("both sites wrote after").contains("doppel:resolve");
        // nothing was overwritten on either side
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(a.nbdUri("r2"), "read -P 0x5a 0 64k"))).isTrue();
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(b.nbdUri("r2"), "read -P 0xa5 128k 64k"))).isTrue();
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(b.nbdUri("r2"), "read -P 0x5a 0 64k")))
                .as("negative control: B lacks A's write").isFalse();
        a.execOk("doppel:resolve --keep b " + GROUP);
        Sites.awaitCaughtUp(b, GROUP, "a", PAIR_TIMEOUT);
        assertSameVolumes(b, a);
        JsonNode snapshots = a.execJson("doppel:snapshot-list --json r2");
        assertThat(snapshots.findValuesAsText("name")).as("A's side kept in a snapshot")
                .anyMatch(n -> n.startsWith("diverged-"));
    }

    @Test
    @Order(4)
    void anAsyncPairFailsBackAfterAKillAndAFailbackPassKilledHalfwayResumesFromTheMap() throws Exception {
        // B is the primary since the third test, A its secondary
        b.execOk("doppel:pair-mode " + GROUP + " a async");
        Sites.awaitPair(b, GROUP, "a", "replicating", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("replicating") && p.path("mapBlocks").asLong() == 0);
        OracleRun.zero(b, ORACLE_VOLUMES, ORACLE_BLOCKS);
        Sites.awaitCaughtUp(b, GROUP, "a", PAIR_TIMEOUT);
        long epochBefore = b.execJson("doppel:failover-status --json " + GROUP).get(0).path("epoch").asLong();
        History history;
        try (OracleRun oracle = OracleRun.start(b, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 402, null, work)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1500);
            b.kill();
            history = oracle.stop();
        }
        LOG.info("B killed: {} oracle writes acknowledged, {} failed, {} unknown", history.acknowledged(),
                history.failed(), history.unknown());
        // A takes over once it sees B gone (the manual policy refuses while B is connected)
        JsonNode[] took = new JsonNode[1];
        await("A's takeover").atMost(PAIR_TIMEOUT).pollInterval(Duration.ofMillis(500)).until(() -> {
            ShellResult r = a.exec("doppel:takeover --json " + GROUP);
            if (r.output().contains("\"role\"")) {
                took[0] = a.execJson("doppel:failover-status --json " + GROUP).get(0);
                return true;
            }
            return false;
        });
        assertThat(took[0].path("role").asText()).isEqualTo("primary");
        assertThat(took[0].path("epoch").asLong()).as("a new epoch").isGreaterThan(epochBefore);
        // an asynchronous copy: A holds B's writes up to some point, in order
        java.util.Map<String, io.doppel.itests.tools.ReplicaImage> atA = OracleRun.images(a, ORACLE_VOLUMES, history);
        for (String v : ORACLE_VOLUMES) {
            io.doppel.itests.tools.ReplicaImage image = atA.get(v);
            long written = 0;
            for (long block = 0; block < image.blocks(); block++) {
                written += image.writeId(block) > 0 ? 1 : 0;
            }
            LOG.info("After the takeover, A's {} holds oracle writes in {} of {} blocks", v, written, image.blocks());
        }
        OracleRun.ok(ReplicaChecker.checkPrefix(history, atA));
        ProcessResult wrote = Scenario.qemuIo(a.nbdUri("r1"), "write -P 0x78 " + B_OFFSET + " " + B_BLOCKS * 4096);
        assertThat(Scenario.qemuIoSucceeded(wrote)).as("A takes host writes: %s", wrote.describe()).isTrue();

        // the failback pass to B, slowed to 4 MB/s so that B can be killed in the middle of it
        aToB.bandwidth(FaultProxy.Direction.UPSTREAM, 4L << 20);
        b.start();
        JsonNode marked = Sites.awaitPair(a, GROUP, "b", "in a pass past its first progress mark", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("resyncing") && p.path("mapBlocks").asLong() > 0
                        && p.path("mapBlocks").asLong() <= p.path("resyncBlocks").asLong() - 4096);
        long planned = marked.path("resyncBlocks").asLong();
        b.kill();
        JsonNode away = Sites.awaitPair(a, GROUP, "b", "to see B gone", PAIR_TIMEOUT,
                p -> !p.path("state").asText().equals("resyncing"));
        long left = away.path("mapBlocks").asLong();
        LOG.info("B killed in the failback pass: {} blocks planned, {} left in A's map", planned, left);
        assertThat(left).as("blocks B confirmed left A's map for good").isPositive().isLessThanOrEqualTo(planned - 4096);

        aToB.clearFaults();
        aToB.resetCounters();
        long logOffset = a.karafLog().size();
        b.start();
        awaitSecondaryOf(a, b);
        assertSameVolumes(a, b);
        long resumed = passBlocksSince(a, "b", logOffset);
        long bytes = aToB.bytes(FaultProxy.Direction.UPSTREAM);
        LOG.info("Resumed failback: a pass of {} blocks ({} bytes to B), against {} planned before the kill", resumed,
                bytes, planned);
        assertThat(resumed).as("the resumed pass copies what was left in the map").isPositive()
                .isLessThanOrEqualTo(left);
        assertThat(bytes).as("bytes B received after its restart: what was left, not the whole pass")
                .isLessThanOrEqualTo(left * 4096 * 11 / 10 + (1L << 20))
                .isLessThan(planned * 4096);
        assertThat(a.karafLog().textSince(logOffset)).doesNotContain("copying the whole group");
        // B's own writes that A never had stay readable in a snapshot named after the fork point
        JsonNode snapshots = b.execJson("doppel:snapshot-list --json r1");
        assertThat(snapshots.findValuesAsText("name")).as("snapshots of r1 at B").anyMatch(n -> n.startsWith("diverged-"));
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(b.nbdUri("r2"), "write -P 0x12 0 4k")))
                .as("B refuses host writes now").isFalse();
    }

    /** Waits until {@code back} is {@code primary}'s consistent secondary and caught up; then their volumes compare equal. */
    private static void awaitSecondaryOf(Appliance primary, Appliance back) {
        Sites.awaitPair(back, GROUP, primary.name(), back.name().toUpperCase() + " as " + primary.name().toUpperCase()
                + "'s secondary", PAIR_TIMEOUT,
                p -> p.path("role").asText().equals("secondary") && p.path("consistent").asBoolean());
        Sites.awaitCaughtUp(primary, GROUP, back.name(), PAIR_TIMEOUT);
    }

    /** {@code qemu-img compare} of each oracle volume at the two sites. */
    private static void assertSameVolumes(Appliance x, Appliance y) {
        for (String v : ORACLE_VOLUMES) {
            ProcessResult cmp = Sites.compare(x.nbdUri(v), y.nbdUri(v));
            assertThat(cmp.exitCode()).as("qemu-img compare %s of %s with %s\n%s", v, x.name(), y.name(), cmp.describe())
                    .isZero();
        }
    }

    /** Blocks of the resync passes {@code primary} logged to {@code peer} since {@code logOffset}. */
    private static long passBlocksSince(Appliance primary, String peer, long logOffset) {
        long blocks = 0;
        Matcher m = Pattern.compile("resync pass to " + peer + " done \\((\\d+) blocks\\)")
                .matcher(primary.karafLog().textSince(logOffset));
        while (m.find()) {
            blocks += Long.parseLong(m.group(1));
        }
        return blocks;
    }
}
