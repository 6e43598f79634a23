package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.BackgroundProcess;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.InstalledBundle;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.tools.CheckResult;
import io.doppel.itests.tools.FaultProxy;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.ReplicaChecker;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarInputStream;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
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
 * Copy modes changed while hosts write: a pair switched between sync and async back and forth
 * under the oracle workload, and the sync and async bundles updated (to jars of another
 * Bundle-Version) at both sites under load. A copies group {@code sg} to B synchronously
 * (oracle on r1 and r2, fio on fs) and group {@code ag} asynchronously (fio on fa).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CopyModeSwapIT {

    private static final Logger LOG = LoggerFactory.getLogger(CopyModeSwapIT.class);

    static final String SYNC_GROUP = "sg";
    static final String ASYNC_GROUP = "ag";
    static final List<String> ORACLE_VOLUMES = List.of("r1", "r2");
    static final String SIZE = "64M";
    static final long ORACLE_BLOCKS = 4096;
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);
    static final String UPGRADED = "0.1.1.upgraded";
    /** 64 MiB of 4 KiB blocks at 1000 writes a second: about 16 s of load per fio job. */
    static final String LOAD_SIZE = "64M";
    static final long LOAD_BLOCKS = 64L * 1024 * 1024 / FioJob.BLOCK_SIZE;

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    static Appliance a;
    static Appliance b;
    static FaultProxy toB;
    static Path work;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("a", "b");
        for (Appliance site : cluster.appliances()) {
            site.configure("io.doppel.copy.async", "busyLoad", "1");
        }
        cluster.startAll();
        a = cluster.appliance("a");
        b = cluster.appliance("b");
        work = Scenario.directory(cluster.workDir(), "work");
        toB = Sites.proxyTo(b);
        Sites.connect(a, b, toB);
        a.execOk("doppel:group-create " + SYNC_GROUP);
        a.execOk("doppel:group-create " + ASYNC_GROUP);
        for (String v : List.of("r1", "r2", "fs")) {
            a.execOk("doppel:volume-create --group " + SYNC_GROUP + " " + v + " " + SIZE);
        }
        a.execOk("doppel:volume-create --group " + ASYNC_GROUP + " fa " + SIZE);
        for (String v : List.of("r1", "r2", "fs", "fa")) {
            a.execOk("doppel:export-add " + v);
        }
        a.execOk("doppel:pair-create --mode sync " + SYNC_GROUP + " b");
        a.execOk("doppel:pair-create --mode async " + ASYNC_GROUP + " b");
        Sites.awaitPair(a, SYNC_GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitPair(a, ASYNC_GROUP, "b", "replicating", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("replicating"));
        for (String v : List.of("r1", "r2", "fs", "fa")) {
            b.execOk("doppel:export-add " + v);
        }
    }

    @AfterAll
    static void closeProxy() {
        if (toB != null) {
            toB.close();
        }
    }

    @Test
    @Order(1)
    void switchingAPairBetweenSyncAndAsyncUnderLoadLosesAndReordersNoWrite() throws Exception {
        History history;
        Map<String, Boolean> snapshots = new LinkedHashMap<>();
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 8, 300, null, work)) {
            for (int round = 0; round < 2; round++) {
                long mark = oracle.acknowledged();
                await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > mark + 500);
                a.execOk("doppel:pair-mode --wait " + SYNC_GROUP + " b async");
                JsonNode asyncPair = Sites.pair(a, SYNC_GROUP, "b");
                assertThat(asyncPair.path("mode").asText()).isEqualTo("async");
                assertThat(asyncPair.path("state").asText()).isEqualTo("replicating");
                long mark2 = oracle.acknowledged();
                await().atMost(Duration.ofMinutes(1)).until(() -> oracle.acknowledged() > mark2 + 1000);
                // a snapshot of B while async: it must be the image of a prefix of A's writes
                String name = "async" + round;
                boolean before = Sites.pair(b, SYNC_GROUP, "a").path("consistent").asBoolean();
                b.execOk("doppel:snapshot-create --group " + SYNC_GROUP + " " + name);
                snapshots.put(name, before && Sites.pair(b, SYNC_GROUP, "a").path("consistent").asBoolean());

                JsonNode switched = a.execJson("doppel:pair-mode --json " + SYNC_GROUP + " b sync");
                LOG.info("Right after async -> sync: {}", switched);
                assertThat(switched.path("state").asText()).as("right after async -> sync").isEqualTo("catching-up");
                Sites.awaitPair(a, SYNC_GROUP, "b", "in sync again", PAIR_TIMEOUT,
                        p -> p.path("state").asText().equals("in-sync") && !p.path("outdated").asBoolean());
            }
            history = oracle.stop();
        }
        assertThat(history.failed()).as("writes failed across the switches").isZero();
        assertThat(history.acknowledged()).isGreaterThan(3000);
        Sites.awaitCaughtUp(a, SYNC_GROUP, "b", PAIR_TIMEOUT);
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));
        for (Map.Entry<String, Boolean> s : snapshots.entrySet()) {
            assertThat(s.getValue()).as("B said consistent around snapshot %s", s.getKey()).isTrue();
            CheckResult prefix = ReplicaChecker.checkPrefix(history, OracleRun.snapshotImages(b, ORACLE_VOLUMES, s.getKey(), history));
            LOG.info("Snapshot {} of B taken while async: {}", s.getKey(), prefix.describe());
            OracleRun.ok(prefix);
        }
        for (String v : ORACLE_VOLUMES) {
            assertThat(Sites.compare(a.nbdUri(v), b.nbdUri(v)).exitCode()).as("compare %s", v).isZero();
        }
        JsonNode pair = Sites.pair(a, SYNC_GROUP, "b");
        assertThat(pair.path("resyncBlocks").asLong()).as("blocks of the last pass: still the initial copy, no resync")
                .isEqualTo(3 * 64L * 1024 * 1024 / 4096);
    }

    @Test
    @Order(2)
    void updatingTheSyncAndAsyncBundlesUnderLoadFailsNoWriteAndTheNewVersionsServe() throws Exception {
        zeroOracleRegion();
        Path dir = Scenario.directory(work, "swap");
        Map<String, Path> jars = new LinkedHashMap<>();
        for (String bundle : List.of("io.doppel.copy-sync", "io.doppel.copy-async")) {
            jars.put(bundle, withVersion(Scenario.systemJar(a, bundle), dir.resolve(bundle + "-" + UPGRADED + ".jar"), UPGRADED));
        }
        FioJob syncLoad = FioJob.of("sync", a.nbdUri("fs"), LOAD_SIZE, 31).ioDepth(4);
        FioJob asyncLoad = FioJob.of("async", a.nbdUri("fa"), LOAD_SIZE, 32).ioDepth(4);
        List<Update> updates = new ArrayList<>();
        History history;
        ProcessResult syncDone;
        ProcessResult asyncDone;
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 8, 301, null, work);
             BackgroundProcess fs = syncLoad.start(dir, syncLoad.writeCommand("write", "--rate_iops=1000",
                     "--write_lat_log=sync", "--log_unix_epoch=1"));
             BackgroundProcess fa = asyncLoad.start(dir, asyncLoad.writeCommand("write", "--rate_iops=1000",
                     "--write_lat_log=async", "--log_unix_epoch=1"))) {
            await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
            for (Appliance site : List.of(a, b)) {
                for (Map.Entry<String, Path> jar : jars.entrySet()) {
                    updates.add(update(site, jar.getKey(), jar.getValue()));
                    assertThat(fs.isAlive() && fa.isAlive()).as("fio still writing after the update").isTrue();
                }
            }
            syncDone = fs.waitFor(Duration.ofMinutes(1));
            asyncDone = fa.waitFor(Duration.ofMinutes(1));
            history = oracle.stop();
        }
        FioResult syncWrite = syncLoad.result(dir, "write", syncDone);
        FioResult asyncWrite = asyncLoad.result(dir, "write", asyncDone);
        for (FioResult w : List.of(syncWrite, asyncWrite)) {
            assertThat(w.exitCode()).as(w.describe()).isZero();
            assertThat(w.jobError()).isZero();
            assertThat(w.writes()).isEqualTo(LOAD_BLOCKS);
        }
        assertThat(history.failed()).as("oracle writes failed during the updates").isZero();

        // the longest write stall around each update, from fio's per-I/O latency logs
        List<long[]> syncLat = FioResult.latencyLog(dir.resolve("sync_lat.1.log"));
        List<long[]> asyncLat = FioResult.latencyLog(dir.resolve("async_lat.1.log"));
        for (Update u : updates) {
            long syncStall = stall(syncLat, u);
            long asyncStall = stall(asyncLat, u);
            LOG.info("bundle:update of {} at {} to {}: command {} ms; longest write stall: sync group {} ms, async group {} ms",
                    u.bundle, u.site, UPGRADED, u.endMillis - u.startMillis, syncStall, asyncStall);
            assertThat(syncStall).as("longest sync write stall around %s at %s", u.bundle, u.site).isLessThan(5_000);
            assertThat(asyncStall).as("longest async write stall around %s at %s", u.bundle, u.site).isLessThan(5_000);
        }

        // the new versions provide the modes, and the pairs run in them
        for (Appliance site : List.of(a, b)) {
            for (JsonNode mode : site.execJson("doppel:mode-list --json")) {
                assertThat(mode.path("version").asText()).as("%s's %s mode", site.name(), mode.path("name").asText())
                        .isEqualTo(UPGRADED);
                assertThat(mode.path("runnable").isNull()).isTrue();
            }
        }
        Sites.awaitPair(a, SYNC_GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitCaughtUp(a, SYNC_GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(a, ASYNC_GROUP, "b", PAIR_TIMEOUT);
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));
        for (String v : List.of("r1", "r2", "fs", "fa")) {
            ProcessResult cmp = Sites.compare(a.nbdUri(v), b.nbdUri(v));
            assertThat(cmp.exitCode()).as("compare %s\n%s", v, cmp.describe()).isZero();
        }
        for (FioJob job : List.of(syncLoad, asyncLoad)) {
            FioJob there = job.against(b.nbdUri(job == syncLoad ? "fs" : "fa"));
            FioResult verified = there.run(dir, Duration.ofMinutes(1), there.verifyCommand(false));
            assertThat(verified.exitCode()).as("fio verify on b\n%s", verified.describe()).isZero();
        }
    }

    @Test
    @Order(3)
    void upgradingTheCopyModeFeaturesUnderLoadFailsNoWriteAndTheNewVersionsServe() throws Exception {
        zeroOracleRegion();
        Path dir = Scenario.directory(work, "upgrade");
        String version = "0.1.2";
        StringBuilder xml = new StringBuilder("<features name=\"doppel-upgrade-" + version
                + "\" xmlns=\"http://karaf.apache.org/xmlns/features/v1.6.0\">\n");
        for (String mode : List.of("sync", "async")) {
            String bundle = "io.doppel.copy-" + mode;
            Path jar = withVersion(Scenario.systemJar(a, bundle), dir.resolve(bundle + "-" + version + ".jar"), version);
            xml.append("  <feature name=\"doppel-copy-").append(mode).append("\" version=\"").append(version).append("\">\n")
                    .append("    <feature prerequisite=\"true\">scr</feature>\n    <feature>doppel-api</feature>\n")
                    .append("    <bundle>file:").append(jar).append("</bundle>\n  </feature>\n");
        }
        xml.append("</features>\n");
        Path repo = dir.resolve("upgrade-features.xml");
        Files.writeString(repo, xml);
        FioJob load = FioJob.of("upgrade", a.nbdUri("fs"), LOAD_SIZE, 33).ioDepth(4);
        History history;
        ProcessResult loaded;
        List<Update> updates = new ArrayList<>();
        try (OracleRun oracle = OracleRun.start(a, ORACLE_VOLUMES, ORACLE_BLOCKS, 8, 302, null, work);
             BackgroundProcess fio = load.start(dir, load.writeCommand("write", "--rate_iops=1000",
                     "--write_lat_log=upgrade", "--log_unix_epoch=1"))) {
            await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
            a.execOk("feature:repo-add file:" + repo);
            for (String mode : List.of("sync", "async")) {
                long start = System.currentTimeMillis();
                a.execOk("feature:install --upgrade doppel-copy-" + mode + "/" + version);
                long end = System.currentTimeMillis();
                await("doppel-copy-" + mode + " " + version + " provides " + mode).atMost(Duration.ofSeconds(60))
                        .pollInterval(Duration.ofMillis(200)).ignoreExceptions().until(() -> {
                            for (JsonNode m : a.execJson("doppel:mode-list --json")) {
                                if (m.path("name").asText().equals(mode)) {
                                    return m.path("version").asText().equals(version);
                                }
                            }
                            return false;
                        });
                updates.add(new Update("a", "feature doppel-copy-" + mode, start, end));
                assertThat(fio.isAlive()).as("fio still writing after the upgrade of %s", mode).isTrue();
            }
            loaded = fio.waitFor(Duration.ofMinutes(1));
            history = oracle.stop();
        }
        FioResult write = load.result(dir, "write", loaded);
        assertThat(write.exitCode()).as(write.describe()).isZero();
        assertThat(write.jobError()).isZero();
        assertThat(history.failed()).as("oracle writes failed during the upgrades").isZero();
        List<long[]> lat = FioResult.latencyLog(dir.resolve("upgrade_lat.1.log"));
        for (Update u : updates) {
            long stall = stall(lat, u);
            LOG.info("feature:install --upgrade of {} to {} at a: command {} ms; longest sync write stall {} ms", u.bundle,
                    version, u.endMillis - u.startMillis, stall);
            assertThat(stall).as("longest sync write stall around the upgrade of %s", u.bundle).isLessThan(5_000);
        }
        String features = a.execOk("feature:list -i --no-format");
        for (String mode : List.of("sync", "async")) {
            assertThat(features.lines()).as("installed features").anyMatch(l -> l.startsWith("doppel-copy-" + mode)
                    && l.contains(version));
        }
        // the appliance feature still requires the old versions, so they stay installed too: the
        // engine runs the pairs on the higher version, and mode-list says so
        for (JsonNode m : a.execJson("doppel:mode-list --json")) {
            assertThat(m.path("version").asText()).as("version serving %s", m.path("name").asText()).isEqualTo(version);
        }
        Sites.awaitPair(a, SYNC_GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitCaughtUp(a, SYNC_GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(a, ASYNC_GROUP, "b", PAIR_TIMEOUT);
        OracleRun.ok(ReplicaChecker.checkSync(history, OracleRun.images(b, ORACLE_VOLUMES, history)));
        assertThat(Sites.compare(a.nbdUri("fs"), b.nbdUri("fs")).exitCode()).isZero();
    }

    // ---------------------------------------------------------------------------------- helpers

    /** {@code bundle:update} from {@code jar} at {@code site}; waits until the new version provides the mode again. */
    private static Update update(Appliance site, String symbolicName, Path jar) {
        InstalledBundle bundle = Scenario.bundle(site, symbolicName);
        String mode = symbolicName.endsWith("-sync") ? "sync" : "async";
        long start = System.currentTimeMillis();
        site.execOk("bundle:update " + bundle.id() + " file:" + jar);
        long end = System.currentTimeMillis();
        await(symbolicName + " " + UPGRADED + " provides " + mode + " at " + site.name()).atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(200)).ignoreExceptions().until(() -> {
                    for (JsonNode m : site.execJson("doppel:mode-list --json")) {
                        if (m.path("name").asText().equals(mode)) {
                            return m.path("version").asText().equals(UPGRADED);
                        }
                    }
                    return false;
                });
        assertThat(Scenario.bundle(site, symbolicName).version()).isEqualTo(UPGRADED);
        return new Update(site.name(), symbolicName, start, end);
    }

    /** A copy of {@code source} whose manifest says Bundle-Version {@code version}. */
    private static Path withVersion(Path source, Path target, String version) {
        try (JarInputStream in = new JarInputStream(Files.newInputStream(source))) {
            Manifest manifest = new Manifest(in.getManifest());
            manifest.getMainAttributes().put(new Attributes.Name("Bundle-Version"), version);
            try (OutputStream file = Files.newOutputStream(target); JarOutputStream out = new JarOutputStream(file, manifest)) {
                for (JarEntry e = in.getNextJarEntry(); e != null; e = in.getNextJarEntry()) {
                    out.putNextEntry(new JarEntry(e.getName()));
                    in.transferTo(out);
                    out.closeEntry();
                }
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot make " + target + " from " + source, e);
        }
    }

    /** Zeroes the oracle's blocks on A and waits until B has it, so a history never meets an earlier one's blocks. */
    private static void zeroOracleRegion() throws Exception {
        OracleRun.zero(a, ORACLE_VOLUMES, ORACLE_BLOCKS);
        Sites.awaitCaughtUp(a, SYNC_GROUP, "b", PAIR_TIMEOUT);
    }

    private static long stall(List<long[]> latencies, Update u) {
        return latencies.stream().filter(io -> io[0] >= u.startMillis && io[0] <= u.endMillis + 2000).mapToLong(io -> io[1])
                .max().orElse(0) / 1_000_000;
    }

    private record Update(String site, String bundle, long startMillis, long endMillis) {
    }
}
