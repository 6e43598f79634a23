package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.*;
import static io.doppel.nbd.internal.ServerFixture.MIB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import io.doppel.api.device.DeviceException;
import io.doppel.api.device.IoError;
import io.doppel.nbd.internal.RawClient.Chunk;
import io.doppel.nbd.internal.RawClient.SimpleReply;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Requests and replies after the handshake, errors, concurrency and connection life cycle. */
class TransmissionTest {

    private ServerFixture fx;

    private ServerFixture start(int maxInFlight) throws IOException {
        return start(maxInFlight, true);
    }

    /** @param inlineReads false sends every read to the worker pool, as after a slow read */
    private ServerFixture start(int maxInFlight, boolean inlineReads) throws IOException {
        MemoryDeviceProvider devices = new MemoryDeviceProvider().volume("vol0", 4 * MIB).volume("data", MIB)
                .snapshot("vol0", "s1").readOnlyVolume("replica", MIB);
        fx = new ServerFixture(devices, c -> c.withMaxInFlightRequests(maxInFlight).withInlineReads(inlineReads))
                .export("ro", "data", null, true, "")
                .export("snap", "vol0", "s1", false, "")
                .export("replica", "replica", null, false, "");
        return fx;
    }

    private ServerFixture start() throws IOException {
        return start(128);
    }

    @AfterEach
    void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    @Test
    void simpleRepliesWriteReadFlushTrimZeroCache() throws IOException {
        start();
        byte[] data = pattern(8192, 1);
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            assertThat(c.write(1, 4096, data, 0)).isZero();
            assertThat(c.read(2, 4096, data.length)).isEqualTo(data);
            assertThat(c.write(3, 0, data, CMD_FLAG_FUA)).isZero();
            assertThat(fx.devices.fuaWrites.get()).isEqualTo(1);

            c.request(0, CMD_FLUSH, 4, 0, 0, null);
            assertThat(c.readSimple().error()).isZero();
            assertThat(fx.devices.flushes.get()).isEqualTo(1);

            c.request(0, CMD_TRIM, 5, 0, 4096, null);
            assertThat(c.readSimple().error()).isZero();
            c.request(CMD_FLAG_NO_HOLE, CMD_WRITE_ZEROES, 6, 4096, 4096, null);
            assertThat(c.readSimple().error()).isZero();
            assertThat(c.read(7, 0, 8192)).containsOnly(0);
            assertThat(fx.devices.trims.get()).isEqualTo(1);
            assertThat(fx.devices.zeroes.get()).isEqualTo(1);

            c.request(0, CMD_CACHE, 8, 0, 65536, null);
            assertThat(c.readSimple().error()).isZero();
        }
        assertThat(Arrays.copyOfRange(fx.devices.data("vol0"), 8192, 12288))
                .isEqualTo(Arrays.copyOfRange(data, 4096, 8192));
    }

    @Test
    void zeroLengthRequestsSucceed() throws IOException {
        start();
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            assertThat(c.write(1, 100, new byte[0], 0)).isZero();
            c.request(0, CMD_READ, 2, 100, 0, null);
            SimpleReply r = c.readSimple();
            assertThat(r.error()).isZero();
            c.request(0, CMD_TRIM, 3, 4 * MIB, 0, null);
            assertThat(c.readSimple().cookie()).as("no data followed the empty read").isEqualTo(3);
        }
        assertThat(fx.devices.writes.get()).isZero();
    }

    @Test
    void structuredRepliesCarryDataNoneAndErrorsWithMessages() throws IOException {
        start();
        byte[] data = pattern(5000, 2);
        try (RawClient c = fx.client()) {
            c.go("vol0", true, false);
            c.request(0, CMD_WRITE, 1, 1000, data.length, data);
            Chunk w = c.readChunk();
            assertThat(w.type()).isEqualTo(REPLY_TYPE_NONE);
            assertThat(w.flags()).isEqualTo(REPLY_FLAG_DONE);
            assertThat(w.payload()).isEmpty();

            c.request(CMD_FLAG_DF, CMD_READ, 2, 1000, data.length, null);
            Chunk r = c.readChunk();
            assertThat(r.type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            assertThat(r.flags()).isEqualTo(REPLY_FLAG_DONE);
            assertThat(r.cookie()).isEqualTo(2);
            ByteBuffer b = r.buffer();
            assertThat(b.getLong()).isEqualTo(1000);
            assertThat(Arrays.copyOfRange(r.payload(), 8, r.payload().length)).isEqualTo(data);

            c.request(0, CMD_READ, 3, 0, 0, null);
            assertThat(c.readChunk().type()).as("empty read").isEqualTo(REPLY_TYPE_NONE);

            c.request(0, CMD_READ, 4, 4 * MIB - 10, 20, null);
            Chunk e = c.readChunk();
            assertThat(e.type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(e.flags()).isEqualTo(REPLY_FLAG_DONE);
            assertThat(e.errno()).isEqualTo(IoError.EINVAL.errno());
            assertThat(e.message()).contains("beyond the end of export vol0");
        }
    }

    @Test
    void blockStatusReportsOneDataExtentOnlyWhenNegotiated() throws IOException {
        start();
        try (RawClient c = fx.client()) {
            c.go("vol0", true, false);
            c.request(0, CMD_BLOCK_STATUS, 1, 0, 65536, null);
            Chunk e = c.readChunk();
            assertThat(e.type()).as("not negotiated").isEqualTo(REPLY_TYPE_ERROR);
            assertThat(e.errno()).isEqualTo(IoError.EINVAL.errno());
        }
        try (RawClient c = fx.client()) {
            c.go("vol0", true, true);
            for (int flags : new int[] {0, CMD_FLAG_REQ_ONE}) {
                c.request(flags, CMD_BLOCK_STATUS, 2, 4096, 3 * MIB, null);
                Chunk s = c.readChunk();
                assertThat(s.type()).isEqualTo(REPLY_TYPE_BLOCK_STATUS);
                assertThat(s.flags()).isEqualTo(REPLY_FLAG_DONE);
                ByteBuffer b = s.buffer();
                assertThat(b.getInt()).isEqualTo(META_BASE_ALLOCATION_ID);
                assertThat(b.getInt()).isEqualTo(3 * MIB);
                assertThat(b.getInt()).as("data, not a hole").isZero();
                assertThat(b.hasRemaining()).isFalse();
            }
            c.request(0, CMD_BLOCK_STATUS, 3, 4 * MIB - 512, 1024, null);
            assertThat(c.readChunk().errno()).isEqualTo(IoError.EINVAL.errno());
        }
        // selected for another export: not usable on this one
        try (RawClient c = fx.client().handshake()) {
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            c.option(OPT_SET_META_CONTEXT, RawClient.metaData("snap", META_BASE_ALLOCATION));
            assertThat(c.last(c.option(OPT_GO, RawClient.infoData("vol0"))).type()).isEqualTo(REP_ACK);
            c.request(0, CMD_BLOCK_STATUS, 4, 0, 512, null);
            assertThat(c.readChunk().type()).isEqualTo(REPLY_TYPE_ERROR);
        }
    }

    @Test
    void outOfRangeAndOversizedRequestsGetTheSpecErrors() throws IOException {
        start();
        long size = 4 * MIB;
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_READ, 1, size - 100, 200, null);
            assertThat(c.readSimple().error()).isEqualTo(IoError.EINVAL.errno());
            assertThat(c.write(2, size - 100, new byte[200], 0)).isEqualTo(IoError.ENOSPC.errno());
            c.request(0, CMD_WRITE_ZEROES, 3, size, 1, null);
            assertThat(c.readSimple().error()).isEqualTo(IoError.ENOSPC.errno());
            c.request(0, CMD_TRIM, 4, size - 1, 2, null);
            assertThat(c.readSimple().error()).isEqualTo(IoError.EINVAL.errno());
            c.request(0, CMD_READ, 5, -4096L, 4096, null);
            assertThat(c.readSimple().error()).as("offset beyond 2^63").isEqualTo(IoError.EINVAL.errno());
            c.request(0, CMD_READ, 6, 0, MAX_PAYLOAD + 1L, null);
            assertThat(c.readSimple().error()).isEqualTo(IoError.EINVAL.errno());
            c.request(0, 9, 7, 0, 0, null);
            assertThat(c.readSimple().error()).as("unknown command").isEqualTo(IoError.EINVAL.errno());
            c.request(1 << 4, CMD_WRITE_ZEROES, 8, 0, 512, null);
            assertThat(c.readSimple().error()).as("FAST_ZERO was not offered").isEqualTo(IoError.EINVAL.errno());
            // negative control: the last byte is in range
            assertThat(c.read(9, size - 1, 1)).hasSize(1);
        }
        assertThat(fx.devices.writes.get() + fx.devices.zeroes.get() + fx.devices.trims.get()).isZero();
    }

    @Test
    void oversizedWritePayloadIsDiscardedAndTheConnectionGoesOn() throws IOException {
        start();
        int length = MAX_PAYLOAD + 4096;
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_WRITE, 1, 0, length, null);
            byte[] chunk = new byte[1 << 20];
            Arrays.fill(chunk, (byte) 0x5a);
            for (int sent = 0; sent < length; sent += chunk.length) {
                c.out.write(chunk, 0, Math.min(chunk.length, length - sent));
            }
            c.out.flush();
            SimpleReply r = c.readSimple();
            assertThat(r.cookie()).isEqualTo(1);
            assertThat(r.error()).isEqualTo(IoError.EINVAL.errno());
            // the payload did not leak into the request stream
            byte[] small = pattern(4096, 3);
            assertThat(c.write(2, 0, small, 0)).isZero();
            assertThat(c.read(3, 0, 4096)).isEqualTo(small);
        }
        assertThat(fx.devices.writes.get()).isEqualTo(1);
    }

    @Test
    void anOversizedPayloadIsSkippedAsItStreamsInNotBuffered() throws IOException {
        start();
        byte[] chunk = new byte[1 << 20];
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            NbdConnection server = fx.server.connections().iterator().next();
            // negative control: part of a valid 3 MiB write is held until the rest arrives
            c.request(0, CMD_WRITE, 1, 0, 3 * MIB, null);
            for (int i = 0; i < 2; i++) {
                c.out.write(chunk);
            }
            c.out.flush();
            await().atMost(Duration.ofSeconds(5)).until(() -> server.buffered() >= 2 * MIB);
            c.out.write(chunk);
            c.out.flush();
            assertThat(c.readSimple().error()).isZero();

            c.request(0, CMD_WRITE, 2, 0, MAX_PAYLOAD + 1L, null);
            for (int i = 0; i < 24; i++) {
                c.out.write(chunk);
            }
            c.out.flush();
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(3))
                    .until(() -> server.buffered() < 256 << 10);
            for (long left = MAX_PAYLOAD + 1L - 24 * chunk.length; left > 0; left -= chunk.length) {
                c.out.write(chunk, 0, (int) Math.min(left, chunk.length));
            }
            c.out.flush();
            assertThat(c.readSimple().error()).isEqualTo(IoError.EINVAL.errno());
        }
    }

    @Test
    void readOnlyExportsRefuseWritesWithEperm() throws IOException {
        start();
        byte[] live = pattern(4096, 4);
        System.arraycopy(live, 0, fx.devices.data("vol0"), 0, live.length);
        for (String export : List.of("ro", "snap", "replica")) {
            try (RawClient c = fx.client()) {
                c.go(export, false, false);
                assertThat(c.write(1, 0, new byte[4096], 0)).as(export).isEqualTo(IoError.EPERM.errno());
                c.request(0, CMD_TRIM, 2, 0, 4096, null);
                assertThat(c.readSimple().error()).as(export).isEqualTo(IoError.EPERM.errno());
                c.request(0, CMD_WRITE_ZEROES, 3, 0, 4096, null);
                assertThat(c.readSimple().error()).as(export).isEqualTo(IoError.EPERM.errno());
                c.request(0, CMD_FLUSH, 4, 0, 0, null);
                assertThat(c.readSimple().error()).as(export).isZero();
                byte[] read = c.read(5, 0, 4096);
                if (export.equals("snap")) {
                    // the snapshot was taken before the live volume changed
                    assertThat(read).containsOnly(0);
                }
            }
        }
        assertThat(fx.devices.writes.get()).isZero();
    }

    @Test
    void deviceErrorsMapToTheirErrnoAndOtherFailuresToEio() throws IOException {
        start();
        fx.devices.fault = (op, off, len) -> {
            if (off == 8192) {
                return new DeviceException(IoError.ENOSPC, "journal is full");
            }
            if (off == 12288) {
                throw new IllegalStateException("simulated bug");
            }
            return null;
        };
        try (RawClient c = fx.client()) {
            c.go("vol0", true, false);
            c.request(0, CMD_WRITE, 1, 8192, 512, new byte[512]);
            Chunk e = c.readChunk();
            assertThat(e.errno()).isEqualTo(IoError.ENOSPC.errno());
            assertThat(e.message()).isEqualTo("journal is full");
            c.request(0, CMD_READ, 2, 12288, 512, null);
            Chunk io = c.readChunk();
            assertThat(io.type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(io.errno()).isEqualTo(IoError.EIO.errno());
            assertThat(io.message()).contains("simulated bug");
            c.request(0, CMD_READ, 3, 0, 512, null);
            assertThat(c.readChunk().type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
        }
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_READ, 4, 8192, 512, null);
            SimpleReply r = c.readSimple();
            assertThat(r.error()).isEqualTo(IoError.ENOSPC.errno());
            // an errored simple read carries no data: the next reply follows at once
            assertThat(c.read(5, 0, 16)).hasSize(16);
        }
    }

    @Test
    void badRequestMagicClosesOnlyThatConnection() throws IOException {
        start();
        try (RawClient other = fx.client(); RawClient bad = fx.client()) {
            other.go("vol0", false, false);
            bad.go("vol0", false, false);
            bad.out.writeInt(0xdeadbeef);
            bad.out.write(new byte[24]);
            bad.out.flush();
            assertThat(bad.closedByServer()).isTrue();
            assertThat(other.read(1, 0, 512)).hasSize(512);
        }
    }

    @Test
    void clientVanishingMidPayloadDoesNotDisturbOthers() throws IOException {
        start();
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_WRITE, 1, 0, MIB, null);
            c.out.write(new byte[1000]);
            c.out.flush();
        }
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_WRITE, 1, 0, MAX_PAYLOAD + 1L, null);
            c.out.write(new byte[5000]); // into an oversized payload being discarded
            c.out.flush();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.openDevices.get() == 0
                && fx.server.status().connections().isEmpty());
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            byte[] data = pattern(1000, 5);
            assertThat(c.write(2, 0, data, 0)).isZero();
            assertThat(c.read(3, 0, 1000)).isEqualTo(data);
        }
        assertThat(fx.devices.writes.get()).as("the cut-off write never reached the device").isEqualTo(1);
    }

    @Test
    void repliesMayOvertakeEachOther() throws IOException {
        start(128, false);
        CountDownLatch release = new CountDownLatch(1);
        fx.devices.fault = (op, off, len) -> {
            if (off == 0 && op.equals("read")) {
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return null;
        };
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_READ, 1, 0, 512, null);
            c.request(0, CMD_READ, 2, 4096, 512, null);
            SimpleReply first = c.readSimple();
            assertThat(first.cookie()).as("the held read is answered last").isEqualTo(2);
            c.readBytes(512);
            release.countDown();
            assertThat(c.readSimple().cookie()).isEqualTo(1);
            c.readBytes(512);
        }
    }

    @Test
    void slowReadsSendTheConnectionsReadsToTheWorkers() throws IOException {
        // Reads run on the event loop while they are fast; several that took long (the disk) make
        // the following reads run on workers, so a held read no longer holds up the others.
        start();
        CountDownLatch release = new CountDownLatch(1);
        fx.devices.fault = (op, off, len) -> {
            try {
                if (op.equals("read") && off == 8192) {
                    Thread.sleep(20); // slower than any page-cache read
                } else if (op.equals("read") && off == 0) {
                    release.await(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        };
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            for (int i = 0; i < 4; i++) { // several slow reads: the disk, not a preempted thread
                c.request(0, CMD_READ, 9, 8192, 512, null);
                assertThat(c.readSimple().cookie()).isEqualTo(9);
                c.readBytes(512);
            }
            c.request(0, CMD_READ, 1, 0, 512, null);
            c.request(0, CMD_READ, 2, 4096, 512, null);
            assertThat(c.readSimple().cookie()).as("the held read is answered last").isEqualTo(2);
            c.readBytes(512);
            release.countDown();
            assertThat(c.readSimple().cookie()).isEqualTo(1);
            c.readBytes(512);
        }
    }

    @Test
    void readingPausesAtTheInFlightLimit() throws IOException {
        start(2, false);
        Semaphore gate = new Semaphore(0);
        fx.devices.gate = gate;
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            for (int i = 0; i < 6; i++) {
                c.request(0, CMD_READ, i, i * 4096L, 4096, null);
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.callsStarted.get() == 2);
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                    .until(() -> fx.devices.callsStarted.get() == 2);
            assertThat(fx.server.status().connections().get(0).inFlight()).isEqualTo(2);
            gate.release(6);
            List<Long> cookies = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                SimpleReply r = c.readSimple();
                assertThat(r.error()).isZero();
                c.readBytes(4096);
                cookies.add(r.cookie());
            }
            assertThat(cookies).containsExactlyInAnyOrder(0L, 1L, 2L, 3L, 4L, 5L);
        } finally {
            fx.devices.gate = null;
            gate.release(100);
        }
    }

    @Test
    void disconnectWaitsForRequestsInFlight() throws IOException {
        start();
        Semaphore gate = new Semaphore(0);
        fx.devices.gate = gate;
        byte[] data = pattern(4096, 6);
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.request(0, CMD_WRITE, 1, 0, data.length, data);
            c.request(0, CMD_DISC, 2, 0, 0, null);
            await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.callsStarted.get() == 1);
            assertThat(fx.devices.openDevices.get()).isEqualTo(1);
            gate.release();
            SimpleReply r = c.readSimple();
            assertThat(r.cookie()).isEqualTo(1);
            assertThat(r.error()).isZero();
            assertThat(c.closedByServer()).isTrue();
        } finally {
            fx.devices.gate = null;
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.openDevices.get() == 0);
        assertThat(Arrays.copyOf(fx.devices.data("vol0"), 4096)).isEqualTo(data);
    }

    @Test
    void statusCountsRequestsAndBytes() throws IOException {
        start();
        try (RawClient c = fx.client()) {
            c.go("vol0", false, false);
            c.write(1, 0, new byte[3000], 0);
            c.read(2, 0, 2000);
            c.read(3, 0, 1000);
            NbdStatus status = fx.server.status();
            assertThat(status.up()).isTrue();
            assertThat(status.listening()).isEqualTo("127.0.0.1:" + fx.port());
            assertThat(status.connections()).singleElement().satisfies(s -> {
                assertThat(s.export()).isEqualTo("vol0");
                assertThat(s.requests()).isEqualTo(3);
                assertThat(s.bytesIn()).isEqualTo(3000);
                assertThat(s.bytesOut()).isEqualTo(3000);
                assertThat(s.inFlight()).isZero();
                assertThat(s.remote()).startsWith("127.0.0.1:");
            });
            assertThat(fx.server.exports()).filteredOn(e -> e.name().equals("vol0")).singleElement()
                    .satisfies(e -> assertThat(e.connections()).isEqualTo(1));
        }
    }

    @Test
    void removingAnExportInUseNeedsForceAndDropsItsClients() throws IOException {
        start();
        try (RawClient c = fx.client()) {
            c.go("snap", false, false);
            assertThatThrownBy(() -> fx.server.removeExport("snap", false))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("snap has 1 client");
            assertThat(fx.server.removeExport("snap", true)).isEqualTo(1);
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(fx.server.exports()).extracting(ExportStatus::name).doesNotContain("snap");
        assertThatThrownBy(() -> fx.server.removeExport("snap", false))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("export snap does not exist");
    }

    @Test
    void volumeGuardNamesTheExportUri() throws IOException {
        start();
        assertThat(fx.server.vetoDelete("vol0")).hasValueSatisfying(reason -> assertThat(reason)
                .contains("nbd://127.0.0.1:" + fx.port() + "/vol0")
                .contains("nbd://127.0.0.1:" + fx.port() + "/snap"));
        assertThat(fx.server.vetoDeleteSnapshot("vol0", "s1")).hasValueSatisfying(reason -> assertThat(reason)
                .contains("/snap"));
        assertThat(fx.server.vetoDeleteSnapshot("vol0", "s2")).isEmpty();
        assertThat(fx.server.vetoDelete("unexported")).isEmpty();
    }

    @Test
    void stoppingTheServerDropsConnectionsAndClosesDevices() throws IOException {
        start();
        try (RawClient a = fx.client(); RawClient b = fx.client()) {
            a.go("vol0", false, false);
            b.go("snap", false, false);
            assertThat(fx.devices.openDevices.get()).isEqualTo(2);
            fx.server.close();
            assertThat(a.closedByServer()).isTrue();
            assertThat(b.closedByServer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.openDevices.get() == 0);
        assertThat(fx.server.status().up()).isFalse();
    }

    @Test
    void concurrentClientsKeepTheirData() throws Exception {
        start();
        int clients = 4;
        ExecutorService hosts = Executors.newFixedThreadPool(clients);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                int id = i;
                runs.add(hosts.submit(() -> {
                    try (RawClient c = fx.client()) {
                        c.go("vol0", id % 2 == 0, false);
                        Random rnd = new Random(1000 + id);
                        for (int n = 0; n < 50; n++) {
                            byte[] d = new byte[512 + rnd.nextInt(4096)];
                            rnd.nextBytes(d);
                            long off = (long) id * MIB + rnd.nextInt(MIB - d.length);
                            c.request(0, CMD_WRITE, n, off, d.length, d);
                            if (id % 2 == 0) {
                                assertThat(c.readChunk().type()).isEqualTo(REPLY_TYPE_NONE);
                                c.request(0, CMD_READ, n, off, d.length, null);
                                assertThat(Arrays.copyOfRange(c.readChunk().payload(), 8, 8 + d.length))
                                        .isEqualTo(d);
                            } else {
                                assertThat(c.readSimple().error()).isZero();
                                assertThat(c.read(n, off, d.length)).isEqualTo(d);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : runs) {
                f.get(30, TimeUnit.SECONDS);
            }
        } finally {
            hosts.shutdownNow();
        }
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }
}
