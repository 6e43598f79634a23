package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.doppel.itests.tools.FaultProxy.Direction;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NbdClientTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final long SIZE = 16 << 20;

    @TempDir
    static Path dir;

    static NbdServer qemu;

    @BeforeAll
    static void startQemuNbd() {
        qemu = NbdServer.qemuNbd(dir.resolve("vol.img"), SIZE, "vol", dir.resolve("qemu-nbd.log"));
    }

    @AfterAll
    static void stopQemuNbd() {
        qemu.close();
    }

    @Test
    void negotiatesTheExportWithOptGo() {
        try (NbdClient client = qemu.connect("vol")) {
            assertThat(client.size()).isEqualTo(SIZE);
            assertThat(client.exportName()).isEqualTo("vol");
            assertThat(client.isReadOnly()).isFalse();
            assertThat(client.canFlush()).isTrue();
            assertThat(client.canFua()).isTrue();
            assertThat(client.canTrim()).isTrue();
            assertThat(client.canWriteZeroes()).isTrue();
            assertThat(client.flags() & NbdClient.FLAG_HAS_FLAGS).isNotZero();
            assertThat(client.isConnected()).isTrue();
        }
    }

    @Test
    void anUnknownExportIsRefusedByName() {
        assertThatThrownBy(() -> qemu.connect("nope"))
                .isInstanceOf(NbdException.class)
                .hasMessageContaining("'nope'")
                .hasMessageContaining("NBD_REP_ERR_UNKNOWN");
    }

    @Test
    void aServerThatIsNotNbdIsRefused() throws IOException {
        try (FakeServer fake = new FakeServer(socket -> write(socket, "HTTP/1.1 400 Bad Request\r\n\r\n"))) {
            assertThatThrownBy(() -> NbdClient.connect(fake.address(), "vol", Duration.ofSeconds(5)))
                    .isInstanceOf(NbdException.class)
                    .hasMessageContaining("is not an NBD server");
        }
    }

    @Test
    void manyPipelinedWritesAndReadsMatchTheirReplies() throws Exception {
        Random random = new Random(7);
        int count = 200;
        try (NbdClient client = qemu.connect("vol")) {
            List<byte[]> blocks = new ArrayList<>();
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                byte[] block = new byte[4096 * (1 + i % 3)];
                random.nextBytes(block);
                blocks.add(block);
                writes.add(client.write((long) i * 4 * 4096, block, i % 5 == 0));
            }
            assertThat(client.inFlight()).isGreaterThan(1);
            CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(WAIT.toSeconds(),
                    TimeUnit.SECONDS);

            List<CompletableFuture<byte[]>> reads = new ArrayList<>();
            for (int i = count - 1; i >= 0; i--) {
                reads.add(client.read((long) i * 4 * 4096, blocks.get(i).length));
            }
            for (int i = 0; i < count; i++) {
                assertThat(reads.get(i)).succeedsWithin(WAIT).isEqualTo(blocks.get(count - 1 - i));
            }
            assertThat(client.flush()).succeedsWithin(WAIT);
            assertThat(client.inFlight()).isZero();
        }
    }

    @Test
    void writeZeroesAndTrim() {
        try (NbdClient client = qemu.connect("vol")) {
            byte[] ones = new byte[8192];
            Arrays.fill(ones, (byte) 1);
            long offset = 8 << 20;
            assertThat(client.write(offset, ones)).succeedsWithin(WAIT);

            assertThat(client.writeZeroes(offset, 4096, true)).succeedsWithin(WAIT);
            assertThat(client.read(offset, 8192)).succeedsWithin(WAIT).satisfies(data -> {
                assertThat(Arrays.copyOfRange(data, 0, 4096)).isEqualTo(new byte[4096]);
                assertThat(Arrays.copyOfRange(data, 4096, 8192)).containsOnly(1);
            });
            assertThat(client.trim(offset, 8192)).succeedsWithin(WAIT);
        }
    }

    @Test
    void anErrorReplyFailsTheRequestWithItsErrnoAndTheConnectionGoesOn() throws IOException {
        Path trigger = dir.resolve("read-errors");
        try (NbdServer nbdkit = NbdServer.nbdkit(dir.resolve("nbdkit-error.log"), "--filter=error", "memory", "1M",
                "error-pwrite=ENOSPC", "error-pwrite-rate=100%", "error-pread=EIO", "error-pread-rate=100%",
                "error-pread-file=" + trigger);
                NbdClient client = nbdkit.connect("")) {
            assertThat(client.write(0, new byte[4096])).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdException.class)
                    .withMessageContaining("ENOSPC")
                    .matches(e -> ((NbdException) e).errno() == 28 && ((NbdException) e).isErrorReply());
            assertThat(client.read(0, 4096)).succeedsWithin(WAIT);

            Files.createFile(trigger);
            assertThat(client.read(0, 4096)).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdException.class)
                    .matches(e -> ((NbdException) e).errno() == 5);
            // a READ error carries no payload: the next reply must still parse
            Files.delete(trigger);
            assertThat(client.read(4096, 4096)).succeedsWithin(WAIT);
            assertThat(client.isConnected()).isTrue();
        }
    }

    @Test
    void worksWithNbdkitMemoryAndRefusesWhatAReadOnlyExportDoesNotOffer() {
        try (NbdServer nbdkit = NbdServer.nbdkit(dir.resolve("nbdkit-ro.log"), "-r", "memory", "1M");
                NbdClient client = nbdkit.connect("anything")) {
            assertThat(client.size()).isEqualTo(1 << 20);
            assertThat(client.isReadOnly()).isTrue();
            assertThat(client.read(0, 65536)).succeedsWithin(WAIT).isEqualTo(new byte[65536]);
            assertThatThrownBy(() -> client.writeZeroes(0, 4096)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("WRITE_ZEROES");
            assertThatThrownBy(() -> client.write(0, new byte[4096], true)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("does not accept");
            assertThat(client.write(0, new byte[4096])).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdException.class)
                    .matches(e -> ((NbdException) e).isErrorReply());
        }
        try (NbdServer nbdkit = NbdServer.nbdkit(dir.resolve("nbdkit-rw.log"), "memory", "2M");
                NbdClient client = nbdkit.connect("")) {
            byte[] data = new byte[12288];
            new Random(3).nextBytes(data);
            assertThat(client.write(4096, data, true)).succeedsWithin(WAIT);
            assertThat(client.read(4096, data.length)).succeedsWithin(WAIT).isEqualTo(data);
        }
    }

    @Test
    void aLostConnectionFailsEveryRequestInFlightAsConnectionLost() {
        try (FaultProxy proxy = FaultProxy.start(qemu.address());
                NbdClient client = NbdClient.connect(proxy.address(), "vol")) {
            proxy.stall(Direction.DOWNSTREAM);
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                writes.add(client.write(i * 4096L, new byte[4096]));
            }
            // the server has the requests; the replies are held by the proxy
            await().atMost(WAIT).until(() -> proxy.bytes(Direction.UPSTREAM) >= 20 * (28 + 4096));
            assertThat(writes).noneMatch(CompletableFuture::isDone);

            proxy.cut();

            for (CompletableFuture<Void> write : writes) {
                assertThat(write).failsWithin(WAIT)
                        .withThrowableOfType(ExecutionException.class)
                        .havingCause()
                        .isInstanceOf(NbdConnectionLostException.class)
                        .isNotInstanceOf(NbdException.class)
                        .withMessageContaining("no reply");
            }
            assertThat(client.isConnected()).isFalse();
            assertThat(client.inFlight()).isZero();
            assertThat(client.read(0, 4096)).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdConnectionLostException.class);
        }
    }

    @Test
    void abortDropsTheConnectionAndCloseRefusesNewRequests() {
        try (FaultProxy proxy = FaultProxy.start(qemu.address())) {
            NbdClient client = NbdClient.connect(proxy.address(), "vol");
            proxy.stall(Direction.DOWNSTREAM);
            CompletableFuture<byte[]> read = client.read(0, 4096);

            client.abort();

            assertThat(read).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdConnectionLostException.class)
                    .withMessageContaining("aborted");
            assertThatThrownBy(() -> client.read(0, 4096)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
        }
        NbdClient client = qemu.connect("vol");
        client.close();
        assertThat(client.isConnected()).isFalse();
        assertThatThrownBy(() -> client.flush()).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void repliesAreMatchedByHandleInAnyOrder() throws IOException {
        // a server that answers each pair of requests in reverse order
        try (FakeServer fake = new FakeServer(socket -> {
            try {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                FakeServer.handshake(in, out, 1 << 20);
                while (true) {
                    long[] first = FakeServer.readRequest(in);
                    long[] second = FakeServer.readRequest(in);
                    FakeServer.reply(out, second, 0);
                    FakeServer.reply(out, first, first[1] == 1 ? 5 : 0);
                }
            } catch (IOException e) {
                // client gone
            }
        })) {
            try (NbdClient client = NbdClient.connect(fake.address(), "x")) {
                CompletableFuture<Void> write = client.write(0, new byte[512]);
                CompletableFuture<byte[]> read = client.read(4096, 16);

                assertThat(read).succeedsWithin(WAIT).isEqualTo(FakeServer.pattern(4096, 16));
                assertThat(write).failsWithin(WAIT)
                        .withThrowableOfType(ExecutionException.class)
                        .havingCause()
                        .isInstanceOf(NbdException.class)
                        .withMessageContaining("WRITE offset 0 length 512")
                        .withMessageContaining("EIO");
            }
        }
    }

    @Test
    void aReplyToNoRequestIsAProtocolViolation() throws IOException {
        try (FakeServer fake = new FakeServer(socket -> {
            try {
                DataInputStream in = new DataInputStream(socket.getInputStream());
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                FakeServer.handshake(in, out, 1 << 20);
                long[] request = FakeServer.readRequest(in);
                request[0] += 1000;
                FakeServer.reply(out, request, 0);
                in.read();
            } catch (IOException e) {
                // client gone
            }
        })) {
            NbdClient client = NbdClient.connect(fake.address(), "x");
            assertThat(client.flush()).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class)
                    .havingCause()
                    .isInstanceOf(NbdConnectionLostException.class)
                    .withMessageContaining("protocol violation");
            client.close();
        }
    }

    private static void write(Socket socket, String text) {
        try {
            socket.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A one-connection-at-a-time server scripted by the test. */
    private static final class FakeServer implements AutoCloseable {
        private final ServerSocket server;
        private final ExecutorService executor = Executors.newSingleThreadExecutor();

        FakeServer(Consumer<Socket> script) throws IOException {
            server = new ServerSocket(0, 5, InetAddress.getLoopbackAddress());
            executor.execute(() -> {
                while (true) {
                    try (Socket socket = server.accept()) {
                        script.accept(socket);
                    } catch (IOException | UncheckedIOException e) {
                        return;
                    }
                }
            });
        }

        InetSocketAddress address() {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
        }

        /** Fixed newstyle greeting, then answers NBD_OPT_GO with NBD_INFO_EXPORT and ACK. */
        static void handshake(DataInputStream in, DataOutputStream out, long size) throws IOException {
            out.writeLong(0x4e42444d41474943L);
            out.writeLong(0x49484156454F5054L);
            out.writeShort(3);
            out.flush();
            in.readInt();
            in.readLong();
            int option = in.readInt();
            in.readFully(new byte[in.readInt()]);
            out.writeLong(0x3e889045565a9L);
            out.writeInt(option);
            out.writeInt(3);
            out.writeInt(12);
            out.writeShort(0);
            out.writeLong(size);
            out.writeShort(NbdClient.FLAG_HAS_FLAGS | NbdClient.FLAG_SEND_FLUSH);
            out.writeLong(0x3e889045565a9L);
            out.writeInt(option);
            out.writeInt(1);
            out.writeInt(0);
            out.flush();
        }

        /** Returns {handle, type, offset, length}, skipping a write's payload. */
        static long[] readRequest(DataInputStream in) throws IOException {
            in.readInt();
            in.readShort();
            int type = in.readShort();
            long[] request = {in.readLong(), type, in.readLong(), in.readInt()};
            if (type == NbdCommand.WRITE.code()) {
                in.readFully(new byte[(int) request[3]]);
            }
            return request;
        }

        static void reply(DataOutputStream out, long[] request, int error) throws IOException {
            out.writeInt(0x67446698);
            out.writeInt(error);
            out.writeLong(request[0]);
            if (error == 0 && request[1] == NbdCommand.READ.code()) {
                out.write(pattern(request[2], (int) request[3]));
            }
            out.flush();
        }

        static byte[] pattern(long offset, int length) {
            byte[] data = new byte[length];
            for (int i = 0; i < length; i++) {
                data[i] = (byte) (offset + i);
            }
            return data;
        }

        @Override
        public void close() throws IOException {
            server.close();
            executor.shutdownNow();
        }
    }
}
