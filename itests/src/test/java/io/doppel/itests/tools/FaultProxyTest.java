package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.doppel.itests.tools.FaultProxy.Direction;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FaultProxyTest {

    private TestServer server;
    private FaultProxy proxy;

    @AfterEach
    void closeAll() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void countsTheBytesOfEachDirectionExactly() throws IOException {
        start(new TestServer(false, bytes(1000, 1)));
        try (Socket client = connect()) {
            new DataInputStream(client.getInputStream()).readFully(new byte[1000]);
            client.getOutputStream().write(bytes(5000, 2));

            await().atMost(Duration.ofSeconds(10)).until(() -> server.received() == 5000);
            assertThat(proxy.bytes(Direction.UPSTREAM)).isEqualTo(5000);
            assertThat(proxy.bytes(Direction.DOWNSTREAM)).isEqualTo(1000);
            assertThat(proxy.acceptedConnections()).isEqualTo(1);
            assertThat(proxy.openConnections()).isEqualTo(1);

            proxy.resetCounters();
            client.getOutputStream().write(bytes(10, 3));
            await().atMost(Duration.ofSeconds(10)).until(() -> server.received() == 5010);
            assertThat(proxy.bytes(Direction.UPSTREAM)).isEqualTo(10);
            assertThat(proxy.bytes(Direction.DOWNSTREAM)).isZero();
            assertThat(proxy.totalBytes(Direction.UPSTREAM)).isEqualTo(5010);
            assertThat(proxy.totalBytes(Direction.DOWNSTREAM)).isEqualTo(1000);
        }
    }

    @Test
    void delayHoldsEachDirectionForTheSetTime() throws IOException {
        start(new TestServer(true, new byte[0]));
        try (Socket client = connect()) {
            assertThat(roundTripMillis(client)).isLessThan(150);

            proxy.delay(Direction.UPSTREAM, Duration.ofMillis(200));
            assertThat(roundTripMillis(client)).isBetween(200L, 700L);

            proxy.delay(Duration.ofMillis(150));
            assertThat(roundTripMillis(client)).isBetween(300L, 800L);

            proxy.delay(Duration.ZERO);
            assertThat(roundTripMillis(client)).isLessThan(150);
        }
    }

    @Test
    void bandwidthLimitHoldsWithinTolerance() throws IOException {
        start(new TestServer(false, new byte[0]));
        int rate = 512 * 1024;
        int total = 1024 * 1024;
        proxy.bandwidth(Direction.UPSTREAM, rate);
        try (Socket client = connect()) {
            long started = System.nanoTime();
            client.getOutputStream().write(bytes(total, 4));
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(10))
                    .until(() -> server.received() == total);
            double seconds = (server.lastByteNanos() - started) / 1e9;

            // 1 MiB at 512 KiB/s takes 2 s
            assertThat(seconds).isBetween(1.7, 3.0);
            assertThat(proxy.bytes(Direction.UPSTREAM)).isEqualTo(total);
        }
    }

    @Test
    void stallHoldsTheBytesAndResumeDeliversThemAll() throws IOException {
        start(new TestServer(false, new byte[0]));
        byte[] data = bytes(200 * 1024, 5);
        try (Socket client = connect()) {
            proxy.stall(Direction.UPSTREAM);
            client.getOutputStream().write(data);

            assertThat(proxy.isStalled(Direction.UPSTREAM)).isTrue();
            await().during(Duration.ofMillis(400)).atMost(Duration.ofSeconds(2))
                    .until(() -> server.received() == 0 && proxy.bytes(Direction.UPSTREAM) == 0);

            proxy.resume(Direction.UPSTREAM);
            await().atMost(Duration.ofSeconds(10)).until(() -> server.received() == data.length);
            assertThat(server.content()).isEqualTo(data);
            assertThat(proxy.bytes(Direction.UPSTREAM)).isEqualTo(data.length);
        }
    }

    @Test
    void stalledRepliesArriveAfterResume() throws IOException {
        start(new TestServer(true, new byte[0]));
        try (Socket client = connect()) {
            proxy.stall(Direction.DOWNSTREAM);
            client.getOutputStream().write(bytes(100, 6));
            await().atMost(Duration.ofSeconds(5)).until(() -> server.received() == 100);

            client.setSoTimeout(300);
            assertThatThrownBy(() -> client.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);

            proxy.resume();
            client.setSoTimeout(5000);
            byte[] echoed = new byte[100];
            new DataInputStream(client.getInputStream()).readFully(echoed);
            assertThat(echoed).isEqualTo(bytes(100, 6));
        }
    }

    @Test
    void cutResetsConnectionsAndRefusesNewOnesUntilHealed() throws IOException {
        start(new TestServer(true, new byte[0]));
        try (Socket before = connect()) {
            assertThat(roundTripMillis(before)).isLessThan(1000);

            proxy.cut();

            assertThat(proxy.isCut()).isTrue();
            assertThat(endsWithin(before, 5000)).as("connection open before the cut ends").isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.openConnections() == 0);
            assertThat(connectionEnds()).as("connection made during the cut is reset").isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.refusedConnections() >= 1);
            assertThat(server.accepted()).isEqualTo(1);
        }

        proxy.heal();
        try (Socket after = connect()) {
            assertThat(roundTripMillis(after)).isLessThan(1000);
            assertThat(server.accepted()).isEqualTo(2);
        }
    }

    @Test
    void refusesBadSettings() throws IOException {
        start(new TestServer(true, new byte[0]));
        assertThatThrownBy(() -> proxy.delay(Direction.UPSTREAM, Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("delay");
        assertThatThrownBy(() -> proxy.bandwidth(-5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-5");
    }

    private void start(TestServer testServer) {
        server = testServer;
        proxy = FaultProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.port()));
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(proxy.address(), 5000);
        socket.setSoTimeout(10_000);
        return socket;
    }

    /** Whether a new connection through the proxy is reset, while connecting or right after. */
    private boolean connectionEnds() throws IOException {
        Socket socket;
        try {
            socket = connect();
        } catch (IOException e) {
            // the reset can beat the end of connect()
            return true;
        }
        try (socket) {
            return endsWithin(socket, 5000);
        }
    }

    /** Sends one byte to the echo server and waits for it to come back. */
    private static long roundTripMillis(Socket client) throws IOException {
        long started = System.nanoTime();
        client.getOutputStream().write(42);
        client.getOutputStream().flush();
        assertThat(client.getInputStream().read()).isEqualTo(42);
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    }

    /** Whether the peer ends (EOF or reset) the connection within {@code millis}. */
    private static boolean endsWithin(Socket socket, int millis) throws IOException {
        socket.setSoTimeout(millis);
        try {
            return socket.getInputStream().read() == -1;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private static byte[] bytes(int length, long seed) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        return data;
    }

    /** Sends a greeting to each connection, then echoes or just keeps what it receives. */
    private static final class TestServer implements AutoCloseable {
        private final ServerSocket socket;
        private final ExecutorService executor = Executors.newCachedThreadPool();
        private final boolean echo;
        private final byte[] greeting;
        private final ByteArrayOutputStream content = new ByteArrayOutputStream();
        private final AtomicLong accepted = new AtomicLong();
        private volatile long lastByteNanos;

        TestServer(boolean echo, byte[] greeting) throws IOException {
            this.echo = echo;
            this.greeting = greeting;
            this.socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            executor.execute(this::acceptLoop);
        }

        int port() {
            return socket.getLocalPort();
        }

        long accepted() {
            return accepted.get();
        }

        long received() {
            synchronized (content) {
                return content.size();
            }
        }

        byte[] content() {
            synchronized (content) {
                return content.toByteArray();
            }
        }

        long lastByteNanos() {
            return lastByteNanos;
        }

        private void acceptLoop() {
            try {
                while (true) {
                    Socket connection = socket.accept();
                    accepted.incrementAndGet();
                    executor.execute(() -> serve(connection));
                }
            } catch (IOException e) {
                // closed
            }
        }

        private void serve(Socket connection) {
            try (connection) {
                OutputStream out = connection.getOutputStream();
                out.write(greeting);
                out.flush();
                InputStream in = connection.getInputStream();
                byte[] buffer = new byte[64 * 1024];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    // the time first, so a reader who sees all bytes also sees when the last came
                    lastByteNanos = System.nanoTime();
                    synchronized (content) {
                        content.write(buffer, 0, n);
                    }
                    if (echo) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // reset by the proxy
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
            executor.shutdownNow();
        }
    }
}
