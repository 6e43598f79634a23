package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.Processes;
import io.doppel.itests.harness.ShellResult;
import io.doppel.itests.tools.FaultProxy;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.ReplicaChecker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
 * A cascade through a journal-only middle site (seed 002 claim 17): A copies a group
 * synchronously to B, which keeps A's records in its journal and no volume data, and C pulls
 * them from B. C's whole copy is A's pass, relayed by B. The oracle workload writes r1 and r2
 * on A; fio writes f1 with crc32c verification.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RelayCascadeIT {

    private static final Logger LOG = LoggerFactory.getLogger(RelayCascadeIT.class);

    static final String GROUP = "rel";
    static final List<String> ORACLE_VOLUMES = List.of("r1", "r2");
    static final String FIO_VOLUME = "f1";
    static final String SIZE = "64M";
    static final long VOLUME_BYTES = 64L << 20;
    static final long ORACLE_BLOCKS = 4096;
    static final long GROUP_BLOCKS = 3 * VOLUME_BYTES / 4096;
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);
    static final Pattern RELAYED = Pattern.compile("relayed pass to c done \\((\\d+) blocks(, a whole copy)?\\)");

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
    void theLastSiteEqualsThePrimaryThroughAMiddleSiteThatKeepsNoData() throws Exception {
        String created = b.execOk("doppel:group-create --journal-only " + GROUP);
        assertThat(created).contains("journal-only group " + GROUP);
        assertThat(Scenario.group(b, GROUP).path("journalOnly").asBoolean()).as("group-list shows it journal-only").isTrue();
        ShellResult early = b.exec("doppel:pair-create --mode async " + GROUP + " c");
        assertThat(early.output() + early.errors()).as("a pair from B before A's: %s", early.describe())
                .contains("journal-only and has no volumes yet");

        FioJob before = FioJob.of("before", a.nbdUri(FIO_VOLUME), "8M", 31).offset("0");
        FioResult wrote = before.run(work, Duration.ofMinutes(2), before.writeCommand("write"));
        assertThat(wrote.exitCode()).as(wrote.describe()).isZero();
        a.execOk("doppel:pair-create --mode sync " + GROUP + " b");
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        long logOffset = b.karafLog().size();
        b.execOk("doppel:pair-create --mode async " + GROUP + " c");
        Sites.awaitPair(b, GROUP, "c", "replicating", PAIR_TIMEOUT, p -> p.path("state").asText().equals("replicating"));
        List<Long> whole = relayedPasses(b.karafLog().textSince(logOffset), true);
        assertThat(whole).as("C's first copy: A's whole pass, relayed by B").containsExactly(GROUP_BLOCKS);
        for (String v : volumes()) {
            c.execOk("doppel:export-add " + v);
        }
        b.execOk("doppel:export-add r1");
        ProcessResult fromB = Scenario.qemuIo(b.nbdUri("r1"), "read 0 4k");
        assertThat(Scenario.qemuIoSucceeded(fromB)).as("B serves no data: %s", fromB.describe()).isFalse();
        assertThat(fromB.stderr()).as("the refusal names why").contains("belongs to journal-only group " + GROUP);

        FioJob load = FioJob.of("load", a.nbdUri(FIO_VOLUME), "16M", 32).offset("16M").ioDepth(16);
        History history;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 300, null, work)) {
            var fio = load.start(work, load.writeCommand("write"));
            FioResult loaded = load.result(work, "write", fio.waitFor(Duration.ofMinutes(2)));
            assertThat(loaded.exitCode()).as(loaded.describe()).isZero();
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1000);
            history = oracle.stop();
        }
        assertThat(history.failed()).isZero();
        awaitCascadeCaughtUp();
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
        for (String v : volumes()) {
            // the placeholder file's creation takes one filesystem block; nothing is written after it
            assertThat(allocatedBytes(b, v)).as("bytes allocated to %s's data file at B", v).isLessThanOrEqualTo(4096);
            assertThat(allocatedBytes(c, v)).as("negative control: C's copy of %s has data", v).isGreaterThan(1L << 20);
        }
    }

    @Test
    @Order(2)
    void theMiddleSiteKilledUnderLoadAndRestartedLeavesTheLastSiteToCatchUpFromItsJournal() throws Exception {
        OracleRun.zero(a, ORACLE_VOLUMES, ORACLE_BLOCKS);
        awaitCascadeCaughtUp();
        History history;
        long logOffset;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 16, 301, null, work)) {
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > 1000);
            long killedAt = oracle.acknowledged();
            b.kill();
            // A goes on (lost-peer policy continue); B lacks these, and C with it
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > killedAt + 1000);
            bToC.resetCounters();
            logOffset = b.karafLog().size();
            b.start();
            await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > killedAt + 2000);
            history = oracle.stop();
        }
        assertThat(history.failed()).as("host writes failed at A while B was away (lost-peer policy continue)").isZero();
        Sites.awaitPair(a, GROUP, "b", "in sync after B's restart", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("in-sync"));
        awaitCascadeCaughtUp();
        String since = b.karafLog().textSince(logOffset);
        List<Long> relayed = relayedPasses(since, false);
        long bytes = bToC.bytes(FaultProxy.Direction.UPSTREAM);
        long written = history.writes().stream().mapToLong(w -> w.blockCount()).sum() * 4096;
        LOG.info("C caught up after B's restart: relayed passes {} (the group has {} blocks); {} bytes from B, {} bytes"
                + " written in the run", relayed, GROUP_BLOCKS, bytes, written);
        assertThat(relayedPasses(since, true)).as("whole copies relayed to C after B's restart").isEmpty();
        assertThat(relayed.stream().mapToLong(Long::longValue).sum()).as("blocks relayed to C after B's restart")
                .isLessThan(GROUP_BLOCKS / 2);
        assertThat(bytes).as("bytes B sent C after its restart: the records, no full copy")
                .isLessThan(written * 2 + (8L << 20)).isLessThan(GROUP_BLOCKS * 4096 / 2);
        OracleRun.ok(ReplicaChecker.checkPrefix(history, OracleRun.images(c, ORACLE_VOLUMES, history), history.lastTick()));
        for (String v : volumes()) {
            ProcessResult cmp = Sites.compare(a.nbdUri(v), c.nbdUri(v));
            assertThat(cmp.exitCode()).as("compare %s of A with C\n%s", v, cmp.describe()).isZero();
            assertThat(allocatedBytes(b, v)).as("bytes allocated to %s's data file at B", v).isLessThanOrEqualTo(4096);
        }
    }

    // ---------------------------------------------------------------------------------- helpers

    /** B caught up with A, then C with B: the whole cascade idle. */
    private static void awaitCascadeCaughtUp() {
        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(b, GROUP, "c", PAIR_TIMEOUT);
    }

    /** The blocks of each pass B relayed to C in {@code log} (only whole copies, with {@code whole}). */
    private static List<Long> relayedPasses(String log, boolean whole) {
        List<Long> out = new ArrayList<>();
        Matcher m = RELAYED.matcher(log);
        while (m.find()) {
            if (!whole || m.group(2) != null) {
                out.add(Long.parseLong(m.group(1)));
            }
        }
        return out;
    }

    /** Disk space the volume's data file takes at {@code site} ({@code stat %b}, in 512-byte units). */
    private static long allocatedBytes(Appliance site, String volume) throws Exception {
        Path data = site.dataDir().resolve("volumes").resolve(volume).resolve("data");
        assertThat(Files.exists(data)).as("%s exists", data).isTrue();
        ProcessResult stat = Processes.run(Duration.ofSeconds(30), "stat", "-c", "%b", data.toString());
        assertThat(stat.exitCode()).as(stat.describe()).isZero();
        return Long.parseLong(stat.stdout().strip()) * 512;
    }
}
