package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The volumes and the journal on a 200 MiB file system that fills up. The host's write that
 * finds no space gets ENOSPC, the group stalls (new writes refused, the journaled write retried
 * every second), the appliance keeps running and serves reads of what was acknowledged. Deleting
 * a ballast file frees space: the stalled write is applied, the group serves again, and the
 * host's retried write lands.
 * <p>
 * The volume is a sparse 1 GiB file, so writing it fills the disk. The journal is two
 * preallocated segments of 33 MiB (the smallest segment holds one 32 MiB record and the headers):
 * its space is taken at start, and it recycles its segments, so it never needs new space.
 */
class FullDiskIT {

    private static final Logger LOG = LoggerFactory.getLogger(FullDiskIT.class);

    private static final String GROUP = "default";
    private static final long MIB = 1024 * 1024;
    private static final long CHUNK = 16 * MIB;
    /** More than the file system holds: the fill must fail before this offset. */
    private static final long FILL_LIMIT = 400 * MIB;

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    private static Appliance appliance;
    private static LoopFilesystem disk;
    private static Path ballast;

    @BeforeAll
    static void bootOnASmallDisk() {
        Cluster cluster = clusters.create("full");
        appliance = cluster.appliance("full");
        disk = LoopFilesystem.mount(cluster.workDir().resolve("disk.img"), cluster.workDir().resolve("disk"), 200);
        Path home = disk.mountPoint();
        // taken before the start, given back to end the stall
        ballast = disk.ballast("ballast", 40 * MIB);
        appliance.configure("io.doppel.volume", "directories", home.resolve("volumes").toString())
                .configure("io.doppel.journal", "directory", home.resolve("journals").toString())
                .configure("io.doppel.journal", "segmentBytes", "33M")
                .configure("io.doppel.journal", "capacityBytes", "66M")
                .configure("io.doppel.engine", "firstVolumeSize", "1G");
        appliance.start();
        LOG.info("Appliance on {} with {} MiB free", home, disk.usableBytes() / MIB);
    }

    @AfterAll
    static void unmount() {
        // before the extension closes the cluster: nothing may hold files on the disk
        try {
            if (appliance != null) {
                appliance.kill();
            }
        } finally {
            if (disk != null) {
                disk.close();
            }
        }
    }

    @Test
    void aFullDiskStallsTheGroupWithEnospcAndFreeingSpaceResumesIt() throws IOException {
        String uri = appliance.nbdUri("vol0");
        JsonNode pool = appliance.execJson("doppel:pool --json");
        assertThat(pool.path(0).path("path").asText()).startsWith(disk.mountPoint().toString());
        assertThat(Scenario.journal(appliance, GROUP).path("capacityBytes").asLong()).isEqualTo(66 * MIB);

        ProcessResult acknowledged = Scenario.qemuIo(uri, "write -P 0xa1 0 4M", "flush");
        assertThat(Scenario.qemuIoSucceeded(acknowledged)).as(acknowledged.describe()).isTrue();

        long offset = 4 * MIB;
        ProcessResult failed = null;
        while (offset < FILL_LIMIT) {
            ProcessResult fill = Scenario.qemuIo(uri, "write -P 0xb2 " + offset + " " + CHUNK);
            if (!Scenario.qemuIoSucceeded(fill)) {
                failed = fill;
                break;
            }
            offset += CHUNK;
        }
        long failedOffset = offset;
        assertThat(failed).as("a write failing before %d MiB on a 200 MiB disk", FILL_LIMIT / MIB).isNotNull();
        LOG.info("Write of 16 MiB at {} MiB failed with {} MiB free: {}", failedOffset / MIB,
                disk.usableBytes() / MIB, failed.stdout().strip());
        assertThat(failed.stdout() + failed.stderr()).as(failed.describe()).contains("No space left on device");
        assertThat(failedOffset).as("some writes fitted before the disk was full").isGreaterThan(4 * MIB);

        // the appliance runs on, and says why the group does not take writes
        assertThat(appliance.isRunning()).isTrue();
        JsonNode stalled = Scenario.group(appliance, GROUP);
        LOG.info("Group while the disk is full: {} ({})", stalled.path("state").asText(), stalled.path("detail").asText());
        assertThat(stalled.path("state").asText()).isEqualTo("stalled");
        assertThat(stalled.path("detail").asText()).contains("vol0").contains("No space left on device");
        ProcessResult refused = Scenario.qemuIo(uri, "write -P 0xd4 0 4K");
        assertThat(refused.stdout() + refused.stderr()).as("a new write while stalled\n%s", refused.describe())
                .contains("No space left on device");
        assertThat(Scenario.journal(appliance, GROUP).path("group").asText()).isEqualTo(GROUP);

        // what was acknowledged reads back
        ProcessResult reads = Scenario.qemuIo(uri, "read -P 0xa1 0 4M",
                "read -P 0xb2 " + 4 * MIB + " " + (failedOffset - 4 * MIB));
        assertThat(Scenario.qemuIoSucceeded(reads)).as("reads while stalled\n%s", reads.describe()).isTrue();
        // negative control: the pattern check fails on other data
        ProcessResult mismatch = Scenario.qemuIo(uri, "read -P 0xa1 " + 4 * MIB + " 4K");
        assertThat(mismatch.stdout()).contains("Pattern verification failed");

        long logOffset = appliance.karafLog().size();
        Files.delete(ballast);
        long freedAt = System.nanoTime();
        await("group " + GROUP + " serving again").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(250))
                .until(() -> "serving".equals(Scenario.group(appliance, GROUP).path("state").asText()));
        LOG.info("Serving again {} ms after the ballast was deleted", (System.nanoTime() - freedAt) / 1_000_000);
        Scenario.awaitLogLine(appliance, logOffset, "Group " + GROUP + ": every failed volume write was applied",
                Duration.ofSeconds(5));

        // The write that got ENOSPC had been journaled: the engine applied it before admitting new
        // writes, so the range holds it (a failed write may or may not have taken effect).
        ProcessResult stalledWrite = Scenario.qemuIo(uri, "read -P 0xb2 " + failedOffset + " " + CHUNK);
        assertThat(Scenario.qemuIoSucceeded(stalledWrite)).as("the journaled write was applied\n%s",
                stalledWrite.describe()).isTrue();

        // the host retries the write it saw fail
        ProcessResult retried = Scenario.qemuIo(uri, "write -P 0xc3 " + failedOffset + " " + CHUNK, "flush",
                "read -P 0xc3 " + failedOffset + " " + CHUNK);
        assertThat(Scenario.qemuIoSucceeded(retried)).as("the retried write\n%s", retried.describe()).isTrue();
        ProcessResult before = Scenario.qemuIo(uri, "read -P 0xa1 0 4M", "read -P 0xb2 " + (failedOffset - CHUNK)
                + " " + CHUNK);
        assertThat(Scenario.qemuIoSucceeded(before)).as("earlier data after the stall\n%s", before.describe())
                .isTrue();
        assertThat(appliance.execJson("doppel:status --json").path("serving").asBoolean()).isTrue();
        assertThat(appliance.unhealthyBundles()).isEmpty();
    }
}
