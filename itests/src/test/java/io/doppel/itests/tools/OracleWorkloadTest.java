package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.doppel.itests.tools.FaultProxy.Direction;
import io.doppel.itests.tools.History.Outcome;
import io.doppel.itests.tools.History.Write;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OracleWorkloadTest {

    private static final long VOLUME_BYTES = 8 << 20;

    @TempDir
    Path dir;

    @Test
    void recordsEveryWriteAndTheSourceItWroteIsConsistent() {
        try (NbdServer v0 = qemu("v0"); NbdServer v1 = qemu("v1");
                NbdClient c0 = v0.connect("v0"); NbdClient c1 = v1.connect("v1")) {
            OracleWorkload workload = OracleWorkload.builder(11).volume("v0", c0).volume("v1", c1).blocks(1024)
                    .queueDepth(16).maxWriteBlocks(8).fuaPercent(10).flushPercent(3).maxWrites(2000).build();

            History history = workload.run(Duration.ofSeconds(60));

            assertThat(workload.stopReason()).isEqualTo("2000 writes issued");
            assertThat(history.writes()).hasSize(2000);
            assertThat(history.acknowledged()).isEqualTo(2000);
            assertThat(history.writes()).extracting(Write::id).containsExactlyElementsOf(
                    LongStream.rangeClosed(1, 2000).boxed().toList());
            assertThat(history.writes()).extracting(Write::volume).contains(0, 1);
            assertThat(history.writes()).anyMatch(Write::fua).anyMatch(w -> !w.fua());
            assertThat(history.writes()).allMatch(w -> w.lastBlock() < 1024 && w.blockCount() <= 8);
            assertThat(history.flushes()).isNotEmpty()
                    .allMatch(f -> f.outcome() == Outcome.ACKNOWLEDGED);
            assertNeverOverlappingInFlight(history);
            assertThat(maxInFlight(history)).isBetween(2, 16);

            Map<String, ReplicaImage> files = Map.of(
                    "v0", ReplicaImage.read(history, "v0", dir.resolve("v0.img")),
                    "v1", ReplicaImage.read(history, "v1", dir.resolve("v1.img")));
            ReplicaChecker.checkSync(history, files).requireOk();
            ReplicaChecker.checkPrefix(history, files).requireOk();
            assertThat(files.get("v0").count(ReplicaImage.Kind.WRITE)).isGreaterThan(500);

            // reading through NBD decodes the same
            ReplicaImage overNbd = ReplicaImage.read(history, "v1", c1);
            for (long block = 0; block < 1024; block++) {
                assertThat(overNbd.block(block)).isEqualTo(files.get("v1").block(block));
            }

            Path saved = dir.resolve("history.json");
            history.save(saved);
            assertThat(History.load(saved).writes()).isEqualTo(history.writes());
        }
    }

    @Test
    void aLostConnectionEndsTheWorkloadWithItsWritesInFlightUnknown() {
        try (NbdServer server = qemu("v"); FaultProxy proxy = FaultProxy.start(server.address());
                NbdClient client = NbdClient.connect(proxy.address(), "v")) {
            OracleWorkload workload = OracleWorkload.builder(12).volume("v", client).blocks(1024).queueDepth(8)
                    .build().start();
            await().atMost(Duration.ofSeconds(20)).until(() -> workload.acknowledged() > 200);
            proxy.stall(Direction.DOWNSTREAM);
            await().atMost(Duration.ofSeconds(10)).until(() -> client.inFlight() == 8);

            long cutAt = System.nanoTime();
            proxy.cut();
            History history = workload.awaitEnd(Duration.ofSeconds(20));

            assertThat(Duration.ofNanos(System.nanoTime() - cutAt)).isLessThan(Duration.ofSeconds(5));
            assertThat(workload.stopReason()).contains("connection to v lost");
            assertThat(history.unknown()).isEqualTo(8);
            assertThat(history.acknowledged() + history.unknown()).isEqualTo(history.writes().size());
            assertThat(history.writes()).filteredOn(w -> w.outcome() == Outcome.UNKNOWN)
                    .allMatch(w -> w.completeTick() == -1);

            Map<String, ReplicaImage> source = Map.of("v", ReplicaImage.read(history, "v", dir.resolve("v.img")));
            ReplicaChecker.checkSync(history, source).requireOk();
            ReplicaChecker.checkPrefix(history, source).requireOk();
        }
    }

    @Test
    void aWriteUnansweredPastTheTimeoutEndsTheWorkload() {
        try (NbdServer server = qemu("v"); FaultProxy proxy = FaultProxy.start(server.address());
                NbdClient client = NbdClient.connect(proxy.address(), "v")) {
            OracleWorkload workload = OracleWorkload.builder(13).volume("v", client).blocks(512).queueDepth(4)
                    .writeTimeout(Duration.ofSeconds(1)).build().start();
            await().atMost(Duration.ofSeconds(20)).until(() -> workload.acknowledged() > 50);

            proxy.stall(Direction.DOWNSTREAM);
            History history = workload.awaitEnd(Duration.ofSeconds(20));

            assertThat(workload.stopReason()).contains("unanswered for PT1S");
            assertThat(history.unknown()).isBetween(1L, 4L);
            client.abort();
        }
    }

    @Test
    void errorRepliesAreRecordedAsFailedWithTheirErrno() throws Exception {
        Path trigger = dir.resolve("fail-writes");
        try (NbdServer server = NbdServer.nbdkit(dir.resolve("nbdkit.log"), "--filter=error", "memory", "4M",
                "error-pwrite=ENOSPC", "error-pwrite-rate=100%", "error-pwrite-file=" + trigger);
                NbdClient client = server.connect("")) {
            OracleWorkload workload = OracleWorkload.builder(14).volume("m", client).queueDepth(8).build().start();
            await().atMost(Duration.ofSeconds(20)).until(() -> workload.acknowledged() > 300);
            Files.createFile(trigger);
            await().atMost(Duration.ofSeconds(20)).until(() -> workload.failed() > 50);
            Files.delete(trigger);
            long acknowledged = workload.acknowledged();
            await().atMost(Duration.ofSeconds(20)).until(() -> workload.acknowledged() > acknowledged + 100);

            History history = workload.stop();

            assertThat(history.volumes()).singleElement().satisfies(v -> assertThat(v.blocks()).isEqualTo(1024));
            assertThat(history.failed()).isGreaterThan(50);
            assertThat(history.unknown()).isZero();
            assertThat(history.writes()).filteredOn(w -> w.outcome() == Outcome.FAILED)
                    .allMatch(w -> w.errno() == 28 && w.completeTick() > w.issueTick());
            Map<String, ReplicaImage> source = Map.of("m", ReplicaImage.read(history, "m", client));
            ReplicaChecker.checkSync(history, source).requireOk();
            ReplicaChecker.checkPrefix(history, source).requireOk();
        }
    }

    @Test
    void endsAfterItsDurationAndAnswersTicksMeanwhile() {
        try (NbdServer server = qemu("v"); NbdClient client = server.connect("v")) {
            OracleWorkload workload = OracleWorkload.builder(15).volume("v", client).blocks(256)
                    .duration(Duration.ofMillis(500)).build().start();
            await().atMost(Duration.ofSeconds(10)).until(() -> workload.acknowledged() > 20);
            long tick = workload.tick();

            History history = workload.awaitEnd(Duration.ofSeconds(20));

            assertThat(workload.stopReason()).isEqualTo("ran for PT0.5S");
            assertThat(history.blocksWrittenAfter(tick)).isNotEmpty()
                    .isSubsetOf(history.blocksMaybeWrittenAfter(tick));
            assertThat(workload.stop()).isSameAs(history);
        }
    }

    @Test
    void refusesBadSettings() {
        try (NbdServer server = qemu("v"); NbdClient client = server.connect("v")) {
            assertThatThrownBy(() -> OracleWorkload.builder(1).volume("v", client).blocks(4096).build())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2048 blocks");
            assertThatThrownBy(() -> OracleWorkload.builder(1).build())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one volume");
            assertThatThrownBy(() -> OracleWorkload.builder(1).volume("v", client).volume("v", client))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("twice");
            assertThatThrownBy(() -> OracleWorkload.builder(1).volume("v", client).volume("w", client).build())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("own client");
            assertThatThrownBy(() -> OracleWorkload.builder(1).fuaPercent(101))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("101");
            assertThatThrownBy(() -> OracleWorkload.builder(1).queueDepth(0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("queue depth");
        }
    }

    private NbdServer qemu(String export) {
        return NbdServer.qemuNbd(dir.resolve(export + ".img"), VOLUME_BYTES, export, dir.resolve(export + ".log"));
    }

    /** The writes to each block never overlapped in time, so each block saw them in issue order. */
    static void assertNeverOverlappingInFlight(History history) {
        for (History.Volume volume : history.volumes()) {
            for (long block = 0; block < volume.blocks(); block++) {
                long b = block;
                List<Write> writes = new ArrayList<>(history.writes().stream()
                        .filter(w -> w.volume() == volume.index() && w.covers(b)).toList());
                writes.sort(Comparator.comparingLong(Write::issueTick));
                for (int i = 1; i < writes.size(); i++) {
                    assertThat(writes.get(i - 1).happensBefore(writes.get(i)))
                            .as("writes %s and %s to %s block %d", writes.get(i - 1).id(), writes.get(i).id(),
                                    volume.name(), block)
                            .isTrue();
                }
            }
        }
    }

    /** The most writes in flight at once, from the ticks. */
    static int maxInFlight(History history) {
        List<long[]> events = new ArrayList<>();
        for (Write write : history.writes()) {
            events.add(new long[] {write.issueTick(), 1});
            events.add(new long[] {write.completeTick(), -1});
        }
        events.sort(Comparator.comparingLong(e -> e[0]));
        int current = 0;
        int max = 0;
        for (long[] event : events) {
            current += (int) event[1];
            max = Math.max(max, current);
        }
        return max;
    }
}
