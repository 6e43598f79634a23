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
import io.doppel.itests.harness.Processes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code bundle:update} of the volume and journal bundles while fio writes: the engine holds I/O
 * while the service is away and resumes it when the new one arrives, so no write fails, and
 * every block reads back afterwards. The longest write stall of each update is measured from
 * fio's per-I/O latency log.
 * <p>
 * Updating the NBD bundle is different: the server goes down with its connections. A client
 * that does not reconnect sees an I/O error; qemu with {@code reconnect-delay} reconnects and
 * goes on; a new client afterwards works and finds the data written before the update.
 * <p>
 * Each update of the journal bundle closes and reopens the journal; two in a row must leave the
 * journal's count of its segment files equal to the files on disk (a reopen turns the segment
 * prepared ahead into a spare, and the second reopen finds a spare of that name already there).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HotSwapIT {

    private static final Logger LOG = LoggerFactory.getLogger(HotSwapIT.class);

    private static final String VOLUME_BUNDLE = "io.doppel.volume";
    private static final String JOURNAL_BUNDLE = "io.doppel.journal";
    private static final String NBD_BUNDLE = "io.doppel.nbd";
    /** 128 MiB of 4 KiB blocks at 2000 writes a second: about 16 s of load. */
    private static final String LOAD_SIZE = "128M";
    private static final long LOAD_BLOCKS = 128L * 1024 * 1024 / FioJob.BLOCK_SIZE;
    private static final int LOAD_IOPS = 2000;
    /** Records written between steps, so that each update meets a running load. */
    private static final long RECORDS_BETWEEN_STEPS = 2000;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(30);

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    private static Appliance appliance;
    private static Path workDir;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("swap").startAll();
        appliance = cluster.appliance("swap");
        workDir = cluster.workDir();
    }

    @Test
    @Order(1)
    void updatingTheVolumeAndJournalBundlesHoldsAndResumesIoWithoutAFailedWrite() {
        Path dir = Scenario.directory(workDir, "load");
        FioJob job = FioJob.of("swap", appliance.nbdUri("vol0"), LOAD_SIZE, 7).ioDepth(8);
        List<Update> updates = new ArrayList<>();
        long started = System.currentTimeMillis();
        ProcessResult load;
        try (BackgroundProcess fio = job.start(dir, job.writeCommand("write", "--rate_iops=" + LOAD_IOPS,
                "--write_lat_log=swap", "--log_unix_epoch=1"))) {
            long head = awaitRecords(0, fio);
            updates.add(update(VOLUME_BUNDLE, "volume service absent", fio));
            head = awaitRecords(head, fio);
            updates.add(update(JOURNAL_BUNDLE, "journal service absent", fio));
            awaitRecords(head, fio);
            load = fio.waitFor(Duration.ofSeconds(90));
        }
        FioResult write = job.result(dir, "write", load);

        assertThat(write.exitCode()).as("fio under the updates\n%s", write.describe()).isZero();
        assertThat(write.jobError()).as("write errors").isZero();
        assertThat(write.writes()).as("every write of the job completed").isEqualTo(LOAD_BLOCKS);
        List<long[]> latencies = FioResult.latencyLog(dir.resolve("swap_lat.1.log"));
        assertThat(latencies).as("fio's latency log").hasSize((int) LOAD_BLOCKS);
        for (Update update : updates) {
            // writes completed before and after the update: the load ran across it
            assertThat(latencies).anyMatch(io -> io[0] < update.startMillis);
            assertThat(latencies).anyMatch(io -> io[0] > update.endMillis + 1000);
            long stallMillis = latencies.stream().filter(io -> io[0] >= update.startMillis
                    && io[0] <= update.endMillis + 1000).mapToLong(io -> io[1]).max().orElse(0) / 1_000_000;
            LOG.info("bundle:update {}: command {} ms, engine held I/O {} ms (\"{}\" at {}), longest write stall "
                    + "{} ms", update.bundle, update.endMillis - update.startMillis, update.heldMillis, update.reason,
                    update.heldAt, stallMillis);
            assertThat(stallMillis).as("longest write stall around the update of %s", update.bundle)
                    .isLessThan(10_000);
        }
        LOG.info("Load: {} writes in {} s, longest write latency {} ms", write.writes(),
                (System.currentTimeMillis() - started) / 1000, write.maxWriteLatencyNanos() / 1_000_000);

        FioResult verify = job.run(dir, Duration.ofSeconds(60), job.verifyCommand(false));
        assertThat(verify.exitCode()).as("verify after the updates\n%s", verify.describe()).isZero();
        assertThat(verify.jobError()).isZero();
        assertThat(verify.reads()).as("blocks read back and checked").isEqualTo(LOAD_BLOCKS);

        assertThat(Scenario.bundle(appliance, VOLUME_BUNDLE).state()).isEqualTo("Active");
        assertThat(Scenario.bundle(appliance, JOURNAL_BUNDLE).state()).isEqualTo("Active");
        assertThat(appliance.unhealthyBundles()).isEmpty();
        assertThat(Scenario.group(appliance, "default").path("state").asText()).isEqualTo("serving");
    }

    @Test
    @Order(2)
    void updatingTheNbdBundleDropsConnectionsAndAReconnectingClientGoesOn() {
        Path dir = Scenario.directory(workDir, "nbd");
        String uri = appliance.nbdUri("vol0");
        // a plain client and one that reconnects, both idle inside a long sleep during the update
        try (BackgroundProcess plain = Processes.start(dir.resolve("plain.log"), "qemu-io", "-f", "raw",
                "-t", "writeback", "-c", "write -P 0x5a 0 1M", "-c", "sleep 6000", "-c", "read -P 0x5a 0 1M", uri);
             BackgroundProcess reconnecting = Processes.start(dir.resolve("reconnecting.log"), "qemu-io",
                     "-t", "writeback", "--image-opts", "-c", "write -P 0x6b 1M 1M", "-c", "sleep 6000",
                     "-c", "read -P 0x6b 1M 1M", "-c", "write -P 0x6c 2M 1M",
                     "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=" + appliance.nbdPort()
                             + ",export=vol0,reconnect-delay=10")) {
            await("both clients connected and written").atMost(STEP_TIMEOUT).pollInterval(Duration.ofMillis(200))
                    .until(() -> connectionsWithWrites() == 2);
            long id = Scenario.bundle(appliance, NBD_BUNDLE).id();
            long logOffset = appliance.karafLog().size();

            appliance.execOk("bundle:update " + id + " file:" + Scenario.systemJar(appliance, NBD_BUNDLE));

            await("the NBD server back with no connection").atMost(STEP_TIMEOUT).pollInterval(Duration.ofMillis(100))
                    .until(() -> {
                        JsonNode status = appliance.execJson("doppel:nbd-status --json");
                        return status.path("up").asBoolean() && status.path("connections").size() <= 1;
                    });
            Scenario.LogMatch closing = Scenario.awaitLogLine(appliance, logOffset, "Closing (\\d+) NBD connections",
                    STEP_TIMEOUT);
            Scenario.LogMatch listening = Scenario.awaitLogLine(appliance, logOffset, "NBD server listening on",
                    STEP_TIMEOUT);
            assertThat(closing.group(1)).as("connections closed by the update").isEqualTo("2");
            LOG.info("bundle:update {}: closed {} connections; listening again {} ms later", NBD_BUNDLE,
                    closing.group(1), Duration.between(closing.time(), listening.time()).toMillis());

            ProcessResult dropped = plain.waitFor(STEP_TIMEOUT);
            ProcessResult resumed = reconnecting.waitFor(STEP_TIMEOUT);
            LOG.info("Client without reconnect after the NBD update: exit {}: {}", dropped.exitCode(),
                    dropped.stdout().strip().replace("\n", " | "));
            LOG.info("Client with reconnect-delay=10: exit {}: {}", resumed.exitCode(),
                    resumed.stdout().strip().replace("\n", " | "));

            assertThat(dropped.timedOut()).isFalse();
            assertThat(dropped.exitCode()).as("a client whose connection was dropped\n%s", dropped.describe())
                    .isNotZero();
            assertThat(dropped.stdout()).contains("read failed: Input/output error");
            assertThat(resumed.exitCode()).as("a client that reconnects\n%s", resumed.describe()).isZero();
            assertThat(resumed.stdout()).contains("read 1048576/1048576 bytes at offset 1048576")
                    .contains("wrote 1048576/1048576 bytes at offset 2097152").doesNotContain("failed");
        }

        // a new client finds what both wrote, including the write after the reconnect
        ProcessResult after = Scenario.qemuIo(uri, "read -P 0x5a 0 1M", "read -P 0x6b 1M 1M", "read -P 0x6c 2M 1M");
        assertThat(Scenario.qemuIoSucceeded(after)).as("reads after the NBD update\n%s", after.describe()).isTrue();
        // negative control: the pattern check does fail on other data
        ProcessResult wrong = Scenario.qemuIo(uri, "read -P 0x6c 0 1M");
        assertThat(wrong.stdout()).contains("Pattern verification failed");
        assertThat(Scenario.bundle(appliance, NBD_BUNDLE).state()).isEqualTo("Active");
        await("no connection left").atMost(STEP_TIMEOUT)
                .until(() -> appliance.execJson("doppel:nbd-status --json").path("connections").isEmpty());
    }

    @Test
    @Order(3)
    void reopeningTheJournalTwiceKeepsItsSegmentFilesCounted() {
        // Enough records for several 64 MiB segments; a checkpoint releases them as spare files.
        String uri = appliance.nbdUri("vol0");
        List<String> writes = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            writes.add("write -P 0x3c " + i * 16 + "M 16M");
        }
        ProcessResult written = Scenario.qemuIo(uri, writes.toArray(String[]::new));
        assertThat(Scenario.qemuIoSucceeded(written)).as(written.describe()).isTrue();
        appliance.execOk("doppel:checkpoint default");
        Path journalDir = appliance.dataDir().resolve("journals/default");
        await("spare segments, and journal-status counting the files on disk").atMost(STEP_TIMEOUT)
                .pollInterval(Duration.ofMillis(200))
                .until(() -> files(journalDir, "spare-") >= 2 && countedSegmentFiles() == segmentFiles(journalDir));

        // each reopen turns the segment prepared ahead into a spare; the second finds a spare of that name
        long logOffset = appliance.karafLog().size();
        for (int round = 1; round <= 2; round++) {
            update(JOURNAL_BUNDLE, "journal service absent", null);
            int attempt = round;
            await("after reopen " + attempt + ", journal-status counts the segment files on disk")
                    .atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200))
                    .untilAsserted(() -> assertThat(countedSegmentFiles())
                            .as("JournalStatus.segments vs segment and spare files in %s: %s", journalDir,
                                    segmentFileNames(journalDir))
                            .isEqualTo(segmentFiles(journalDir)));
            LOG.info("Journal reopen {}: files {}, {} counted", round, segmentFileNames(journalDir),
                    countedSegmentFiles());
        }

        // writing on uses up the spares: each one must still be there to be reused
        ProcessResult more = Scenario.qemuIo(uri, writes.toArray(String[]::new));
        assertThat(Scenario.qemuIoSucceeded(more)).as(more.describe()).isTrue();
        ProcessResult again = Scenario.qemuIo(uri, writes.toArray(String[]::new));
        assertThat(Scenario.qemuIoSucceeded(again)).as(again.describe()).isTrue();
        assertThat(appliance.karafLog().grepSince(logOffset, "cannot reuse spare segment")).isEmpty();
    }

    /** Segment files the journal counts: retained, prepared ahead and spare ({@code JournalStatus.segments}). */
    private static long countedSegmentFiles() {
        return Scenario.journal(appliance, "default").path("segments").asLong();
    }

    private static long segmentFiles(Path journalDir) {
        return files(journalDir, "segment-") + files(journalDir, "spare-");
    }

    private static List<String> segmentFileNames(Path journalDir) {
        try (var entries = Files.list(journalDir)) {
            return entries.map(path -> path.getFileName().toString()).filter(name -> name.endsWith(".seg")).sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list " + journalDir, e);
        }
    }

    private static long files(Path directory, String prefix) {
        try (var entries = Files.list(directory)) {
            return entries.map(path -> path.getFileName().toString())
                    .filter(name -> name.startsWith(prefix) && name.endsWith(".seg")).count();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list " + directory, e);
        }
    }

    private static int connectionsWithWrites() {
        int count = 0;
        for (JsonNode connection : appliance.execJson("doppel:nbd-status --json").path("connections")) {
            if (connection.path("bytesIn").asLong() >= 1024 * 1024) {
                count++;
            }
        }
        return count;
    }

    /** Waits until the journal head is {@link #RECORDS_BETWEEN_STEPS} records past {@code from}; returns it. */
    private static long awaitRecords(long from, BackgroundProcess fio) {
        long[] head = {from};
        await("the load writes " + RECORDS_BETWEEN_STEPS + " records after seq " + from).atMost(STEP_TIMEOUT)
                .pollInterval(Duration.ofMillis(200))
                .ignoreExceptions()
                .failFast("fio ended early: " + fio.log(), () -> !fio.isAlive())
                .until(() -> {
                    head[0] = Scenario.journal(appliance, "default").path("head").path("seq").asLong();
                    return head[0] >= from + RECORDS_BETWEEN_STEPS;
                });
        return head[0];
    }

    /**
     * {@code bundle:update} of the bundle from its own jar; waits until the engine serves again.
     * {@code fio}, if given, must still be running when the update returns.
     */
    private static Update update(String symbolicName, String reason, BackgroundProcess fio) {
        InstalledBundle bundle = Scenario.bundle(appliance, symbolicName);
        Path jar = Scenario.systemJar(appliance, symbolicName);
        long logOffset = appliance.karafLog().size();
        long start = System.currentTimeMillis();
        appliance.execOk("bundle:update " + bundle.id() + " file:" + jar);
        long end = System.currentTimeMillis();
        if (fio != null) {
            assertThat(fio.isAlive()).as("fio still writing when the update of %s returned", symbolicName).isTrue();
        }

        Scenario.LogMatch held = Scenario.awaitLogLine(appliance, logOffset, "Engine holding I/O: (.*)$",
                STEP_TIMEOUT);
        Scenario.LogMatch resumed = Scenario.awaitLogLine(appliance, logOffset,
                "Engine serving \\d+ group\\(s\\), \\d+ volume\\(s\\)", STEP_TIMEOUT);
        assertThat(held.group(1)).isEqualTo(reason);
        long heldMillis = Duration.between(held.time(), resumed.time()).toMillis();
        assertThat(heldMillis).as("resumed after it held").isGreaterThanOrEqualTo(0);
        await(symbolicName + " active again").atMost(STEP_TIMEOUT)
                .until(() -> "Active".equals(Scenario.bundle(appliance, symbolicName).state()));
        assertThat(Scenario.bundle(appliance, symbolicName).id()).isEqualTo(bundle.id());
        return new Update(symbolicName, start, end, heldMillis, held.group(1), held.time().toString());
    }

    private record Update(String bundle, long startMillis, long endMillis, long heldMillis, String reason,
                          String heldAt) {
    }
}
