package io.doppel.transport.internal;

import static io.doppel.transport.internal.TestSite.ECHO;
import static io.doppel.transport.internal.TestSite.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLSession;

import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.PeerUnavailableException;
import io.doppel.api.transport.RemoteException;
import io.doppel.storage.internal.FileStorage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.ssl.SslHandler;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two or three transports in this JVM on loopback, with real TLS. */
class TransportTest {

    private static final Duration DEADLINE = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        Collections.reverse(open);
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private TestSite site(String label) throws Exception {
        return site(label, TestSite.fastConfig(tmp.resolve(label)));
    }

    private TestSite site(String label, TransportConfig config) throws Exception {
        TestSite s = new TestSite(label, tmp.resolve(label), config.withDirectory(tmp.resolve(label))).start();
        open.add(s);
        return s;
    }

    /** Adds each to the other with addresses and waits until both links are up. */
    private static void pair(TestSite a, TestSite b) {
        a.add(b, true);
        b.add(a, true);
        await().atMost(DEADLINE).until(() -> a.connected(b.label) && b.connected(a.label));
    }

    /** {@code dialer} has the other's address, {@code listener} has none: one connection, dialled by {@code dialer}. */
    private static void connect(TestSite dialer, TestSite listener) {
        listener.add(dialer, false);
        dialer.add(listener, true);
        await().atMost(DEADLINE).until(() -> dialer.connected(listener.label) && listener.connected(dialer.label));
    }

    /** Records the sequence numbers (first int of the payload) of the frames of {@code type} that {@code s} gets. */
    private static List<Integer> sequenceOf(TestSite s, int type) {
        List<Integer> got = new CopyOnWriteArrayList<>();
        s.handlers.add((peer, f) -> {
            got.add(f.payload().getInt(0));
            return null;
        }, type);
        return got;
    }

    private static void sendSequence(PeerLink link, int type, int from, int to) throws IOException {
        for (int i = from; i < to; i++) {
            link.send(new Frame(type, ByteBuffer.allocate(8).putInt(0, i).putInt(4, ~i)));
        }
    }

    private static List<Integer> range(int from, int to) {
        List<Integer> out = new ArrayList<>();
        for (int i = from; i < to; i++) {
            out.add(i);
        }
        return out;
    }

    private static Frame frame(int type, String text) {
        return new Frame(type, bytes(text));
    }

    private static String text(Frame f) {
        return Wire.string(f.payload());
    }

    @Test
    void registeredPeersAuthenticateEachOtherAndKeepOneConnection() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        pair(a, b);

        Frame reply = a.service.link("b").request(frame(ECHO, "hello b")).get(5, TimeUnit.SECONDS);
        assertThat(text(reply)).isEqualTo("hello b");
        assertThat(b.received).singleElement().satisfies(r -> assertThat(r.peer()).isEqualTo("a"));

        // each learned the other's site id from the HELLO and keeps it in its registry
        await().atMost(DEADLINE).untilAsserted(() -> {
            assertThat(a.info("b").siteId()).isEqualTo("site-b");
            assertThat(b.info("a").siteId()).isEqualTo("site-a");
            PeerRegistry onDisk = new PeerRegistry(new FileStorage(), tmp.resolve("a/peers"));
            onDisk.load();
            assertThat(onDisk.find("b").orElseThrow().siteId()).isEqualTo("site-b");
        });
        // both have the other's address and may both dial: in the end one connection, the same at both
        // ends (which one depends on who got through first; see the test of two connections meeting)
        awaitOneSharedConnection(a, b);
        // TLS 1.3, and each side holds the other's certificate (mutual authentication)
        for (TestSite[] ends : new TestSite[][] {{a, b}, {b, a}}) {
            SSLSession session = ends[0].link(ends[1].label).connection().channel().pipeline().get(SslHandler.class)
                    .engine().getSession();
            assertThat(session.getProtocol()).isEqualTo("TLSv1.3");
            assertThat(Fingerprints.of((X509Certificate) session.getPeerCertificates()[0]))
                    .isEqualTo(ends[1].fingerprint());
            assertThat(Fingerprints.of((X509Certificate) session.getLocalCertificates()[0]))
                    .isEqualTo(ends[0].fingerprint());
        }
        // heartbeats measure the round trip; counters count both ways
        await().atMost(DEADLINE).until(() -> a.info("b").rttMicros() > 0 && b.info("a").rttMicros() > 0);
        PeerInfo info = a.info("b");
        assertThat(info.bytesSent()).isPositive();
        assertThat(info.bytesReceived()).isPositive();
        assertThat(info.fingerprint()).isEqualTo(b.fingerprint());
        assertThat(a.events).anySatisfy(e -> assertThat(e.state()).isEqualTo("connected"));
    }

    /** Waits until each site has one open connection and it is the same one; returns it at {@code a}. */
    private static Channel awaitOneSharedConnection(TestSite a, TestSite b) {
        await().atMost(DEADLINE).untilAsserted(() -> {
            Connection atA = a.link(b.label).connection();
            Connection atB = b.link(a.label).connection();
            assertThat(atA).isNotNull();
            assertThat(atB).isNotNull();
            assertThat(atA.dialedByUs()).isNotEqualTo(atB.dialedByUs());
            assertThat(atA.channel().localAddress()).isEqualTo(atB.channel().remoteAddress());
            assertThat(openConnections(a)).isEqualTo(1);
            assertThat(openConnections(b)).isEqualTo(1);
        });
        return a.link(b.label).connection().channel();
    }

    @Test
    void twoConnectionsThatMeetLeaveTheOneDialledByTheLowerFingerprint() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        pair(a, b);
        boolean aIsLower = a.fingerprint().compareTo(b.fingerprint()) < 0;
        TestSite lower = aIsLower ? a : b;
        TestSite higher = aIsLower ? b : a;
        awaitOneSharedConnection(lower, higher);

        // a second connection dialled by the lower site wins at both ends, whoever dialled the first
        Channel byLower = lower.service.dial(lower.link(higher.label)).get(5, TimeUnit.SECONDS);
        await().atMost(DEADLINE).until(() -> awaitOneSharedConnection(lower, higher) == byLower);
        assertThat(lower.link(higher.label).connection().dialedByUs()).isTrue();

        // one dialled by the higher site now loses at both ends: the first stays, untouched
        Channel byHigher = higher.service.dial(higher.link(lower.label)).get(5, TimeUnit.SECONDS);
        await().atMost(DEADLINE).until(() -> !byHigher.isActive());
        assertThat(awaitOneSharedConnection(lower, higher)).isSameAs(byLower);
        assertThat(byLower.isActive()).isTrue();
        assertThat(text(higher.service.link(lower.label).request(frame(ECHO, "one link")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("one link");
    }

    private static long openConnections(TestSite s) throws Exception {
        java.lang.reflect.Field f = TransportService.class.getDeclaredField("channels");
        f.setAccessible(true);
        return ((java.util.Collection<?>) f.get(s.service)).stream()
                .filter(c -> ((io.netty.channel.Channel) c).isActive()).count();
    }

    @Test
    void onlyTheSiteWithAnAddressDials() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        b.add(a, false);
        assertThat(b.info("a").state()).isEqualTo("disconnected");
        assertThat(b.info("a").detail()).contains("waiting for it to dial");
        a.add(b, true);
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
        assertThat(a.link("b").connection().dialedByUs()).isTrue();
        assertThat(b.link("a").connection().dialedByUs()).isFalse();
        assertThat(text(b.service.link("a").request(frame(ECHO, "back")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("back");
    }

    @Test
    void anUnknownPeerIsRefusedDuringTheHandshakeUntilItIsAdded() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        TestSite c = site("c");
        pair(a, b);
        try (LogCapture log = new LogCapture()) {
            c.add(a, true); // a does not know c
            await().atMost(DEADLINE).untilAsserted(() -> {
                assertThat(c.info("a").state()).isEqualTo("refused");
                assertThat(c.info("a").detail()).contains("refused this site's certificate");
                assertThat(log.text()).contains("refused connection from 127.0.0.1:")
                        .contains(": certificate " + c.fingerprint() + " belongs to no known peer");
            });
        }
        assertThat(c.connected("a")).isFalse();
        assertThat(a.service.peers()).extracting(PeerInfo::name).containsExactly("b");
        assertThatThrownBy(() -> c.service.link("a").request(frame(ECHO, "let me in")).get(5, TimeUnit.SECONDS))
                .hasCauseInstanceOf(PeerUnavailableException.class);
        assertThat(a.received).isEmpty();

        // negative control: the same site once added gets through (it keeps dialling with backoff)
        a.add(c, false);
        await().atMost(DEADLINE).until(() -> c.connected("a") && a.connected("c"));
        assertThat(text(c.service.link("a").request(frame(ECHO, "let me in")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("let me in");
        assertThat(a.receivedFrom("c")).isEqualTo(1);
    }

    @Test
    void aPeerWithAnotherFingerprintThanPinnedIsRefused() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        pair(a, b);
        String wrong = "AB".repeat(32);
        a.service.addPeer("b2", b.address(), wrong); // b's address, but not b's fingerprint
        await().atMost(DEADLINE).untilAsserted(() -> {
            PeerInfo p = a.info("b2");
            assertThat(p.state()).isEqualTo("refused");
            assertThat(p.detail()).contains("its certificate " + b.fingerprint())
                    .contains("is not the one pinned for b2");
        });
        assertThat(b.received).isEmpty();
        assertThat(a.connected("b")).isTrue();
    }

    @Test
    void anotherProtocolVersionIsRefusedNamingBothVersions() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        b.service.protocolVersion(2);
        a.add(b, true);
        b.add(a, true);
        await().atMost(DEADLINE).untilAsserted(() -> {
            assertThat(a.info("b").state()).isEqualTo("refused");
            assertThat(a.info("b").detail()).contains("speaks transport protocol version 2")
                    .contains("this site speaks version 1");
            assertThat(b.info("a").state()).isEqualTo("refused");
            assertThat(b.info("a").detail()).contains("speaks transport protocol version 1")
                    .contains("this site speaks version 2");
        });
        assertThat(a.received).isEmpty();
        assertThat(b.received).isEmpty();

        // negative control: the same versions connect (the links keep retrying)
        b.service.protocolVersion(Hello.PROTOCOL_VERSION);
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
    }

    @Test
    void pipelinedRequestsGetTheirOwnReplies() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        int n = 1000;
        List<CompletableFuture<Frame>> held = new CopyOnWriteArrayList<>();
        List<ByteBuffer> payloads = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> allArrived = new CompletableFuture<>();
        b.handlers.add((peer, f) -> {
            CompletableFuture<Frame> reply = new CompletableFuture<>();
            held.add(reply);
            payloads.add(f.payload());
            if (held.size() == n) {
                allArrived.complete(null);
            }
            return reply;
        }, 200);
        pair(a, b);

        List<CompletableFuture<Frame>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(a.service.link("b").request(new Frame(200, ByteBuffer.allocate(4).putInt(0, i))));
        }
        // the handler answers nothing until all 1000 are outstanding, then in a shuffled order
        allArrived.get(10, TimeUnit.SECONDS);
        assertThat(futures).noneMatch(CompletableFuture::isDone);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(42));
        for (int i : order) {
            int value = payloads.get(i).getInt(0);
            held.get(i).complete(new Frame(201, ByteBuffer.allocate(8).putInt(0, value).putInt(4, ~value)));
        }
        for (int i = 0; i < n; i++) {
            Frame r = futures.get(i).get(10, TimeUnit.SECONDS);
            assertThat(r.type()).isEqualTo(201);
            assertThat(r.payload().getInt(0)).isEqualTo(i);
            assertThat(r.payload().getInt(4)).isEqualTo(~i);
        }
    }

    @Test
    void framesSentByOneThreadArriveInOrder() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        List<long[]> got = new CopyOnWriteArrayList<>();
        b.handlers.add((peer, f) -> {
            got.add(new long[] {f.payload().getInt(0), f.payload().getInt(4)});
            return null;
        }, 300);
        pair(a, b);
        int threads = 4;
        int each = 2000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    for (int i = 0; i < each; i++) {
                        a.service.link("b").send(new Frame(300, ByteBuffer.allocate(8).putInt(0, thread).putInt(4, i)));
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(20, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        await().atMost(DEADLINE).until(() -> got.size() == threads * each);
        int[] next = new int[threads];
        for (long[] g : got) {
            assertThat(g[1]).as("frame from thread %d", g[0]).isEqualTo(next[(int) g[0]]);
            next[(int) g[0]]++;
        }
    }

    @Test
    void aHandlerFailureReachesTheRequesterWithItsMessage() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        b.handlers.add((peer, f) -> CompletableFuture.failedFuture(new IllegalStateException("disk full on b")), 101);
        b.handlers.add((peer, f) -> {
            throw new IllegalArgumentException("bad record " + Wire.string(f.payload()));
        }, 102);
        b.handlers.add((peer, f) -> null, 103);
        pair(a, b);

        assertThatThrownBy(() -> a.service.link("b").request(frame(101, "x")).get(5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).cause().isInstanceOf(RemoteException.class)
                .hasMessage("disk full on b");
        assertThatThrownBy(() -> a.service.link("b").request(frame(102, "7")).get(5, TimeUnit.SECONDS))
                .cause().isInstanceOf(RemoteException.class).hasMessage("bad record 7");
        assertThatThrownBy(() -> a.service.link("b").request(frame(103, "x")).get(5, TimeUnit.SECONDS))
                .cause().isInstanceOf(RemoteException.class).hasMessageContaining("returned no reply");
        assertThatThrownBy(() -> a.service.link("b").request(frame(150, "x")).get(5, TimeUnit.SECONDS))
                .cause().isInstanceOf(RemoteException.class).hasMessage("no handler for frame type 150");
        // the link survives all of it
        assertThat(text(a.service.link("b").request(frame(ECHO, "still here")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("still here");
        assertThatThrownBy(() -> a.service.link("b").send(frame(99, "x")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("frame type 99");
        assertThatThrownBy(() -> a.service.link("nobody")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown peer 'nobody'");
    }

    @Test
    void aLostLinkFailsOutstandingRequestsAndReconnectsByItself() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        b.handlers.add((peer, f) -> new CompletableFuture<>(), 104); // never answers
        pair(a, b);
        List<CompletableFuture<Frame>> outstanding = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            outstanding.add(a.service.link("b").request(frame(104, "wait " + i)));
        }
        await().atMost(DEADLINE).until(() -> b.link("a").connection() != null);

        int port = b.service.port();
        b.service.close();
        for (CompletableFuture<Frame> f : outstanding) {
            assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).cause()
                    .isInstanceOf(PeerUnavailableException.class).hasMessageContaining("link to peer b lost");
        }
        await().atMost(DEADLINE).until(() -> !a.connected("b"));
        assertThat(a.service.link("b").request(frame(ECHO, "x"))).isCompletedExceptionally();
        assertThatThrownBy(() -> a.service.link("b").send(frame(ECHO, "x")))
                .isInstanceOf(PeerUnavailableException.class).hasMessageContaining("peer b is not connected");
        assertThat(a.events).anySatisfy(e -> assertThat(e.state()).isNotEqualTo("connected"));

        b.config = b.config.withPort(port);
        b.start();
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
        assertThat(text(a.service.link("b").request(frame(ECHO, "again")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("again");
        assertThat(a.events).extracting(PeerInfo::connected).containsSubsequence(true, false, true);
    }

    @Test
    void heartbeatsDetectAStalledPeer() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        try (TcpProxy proxy = new TcpProxy(new InetSocketAddress("127.0.0.1", b.service.port()))) {
            open.add(0, proxy);
            a.service.addPeer("b", proxy.address(), b.fingerprint());
            b.add(a, false); // only a dials, through the proxy
            await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
            await().atMost(DEADLINE).until(() -> a.info("b").rttMicros() > 0);

            long stalledAt = System.nanoTime();
            proxy.stall(); // the TCP connection stays open, nothing gets through
            await().atMost(DEADLINE).until(() -> !a.connected("b"));
            long detectedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stalledAt);
            assertThat(detectedMillis).isGreaterThanOrEqualTo(a.config.deadAfterMillis() - 200);
            assertThat(a.events).anySatisfy(e -> assertThat(e.detail()).contains("no frame from peer b"));
            await().atMost(DEADLINE).until(() -> b.events.stream().anyMatch(e -> e.detail().contains("no frame")));

            // a new connection through the proxy flows again
            await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
            assertThat(proxy.accepted()).isGreaterThanOrEqualTo(2);
            assertThat(text(a.service.link("b").request(frame(ECHO, "after")).get(5, TimeUnit.SECONDS)))
                    .isEqualTo("after");
        }
    }

    @Test
    void aFrameFailingItsCrcClosesTheLinkWhichRecovers() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        pair(a, b);
        a.link("b").connection().corruptNextOfType.set(ECHO);
        a.service.link("b").send(frame(ECHO, "garbled on the way"));
        await().atMost(DEADLINE).untilAsserted(() -> assertThat(b.events)
                .anySatisfy(e -> assertThat(e.detail()).contains("frame CRC32C mismatch")));
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
        assertThat(text(a.service.link("b").request(frame(ECHO, "clean")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("clean");
        assertThat(b.received).extracting(r -> Wire.string(r.payload())).containsExactly("clean");
    }

    @Test
    void aByteFlippedOnTheWireClosesTheLinkWhichRecovers() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        try (TcpProxy proxy = new TcpProxy(new InetSocketAddress("127.0.0.1", b.service.port()))) {
            open.add(0, proxy);
            a.service.addPeer("b", proxy.address(), b.fingerprint());
            b.add(a, false);
            await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
            proxy.flipNextByte();
            // TLS authenticates every record: the flipped byte fails there, before the frame CRC
            await().atMost(DEADLINE).until(() -> b.events.stream().anyMatch(e -> !e.connected()));
            await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
            assertThat(text(a.service.link("b").request(frame(ECHO, "ok")).get(5, TimeUnit.SECONDS)))
                    .isEqualTo("ok");
        }
    }

    @Test
    void aPeerThatDoesNotReadMakesTheLinkUnwritable() throws Exception {
        long limit = 256 << 10;
        TransportConfig slow = TestSite.fastConfig(tmp).withTimes(100, 60_000, 300, 30_000)
                .withLimits(limit, 64L << 20);
        TestSite a = site("a", slow);
        TestSite b = site("b", slow);
        pair(a, b);
        var link = a.service.link("b");
        assertThat(link.awaitWritable(0)).isTrue(); // negative control
        assertThat(link.queuedBytes()).isLessThan(limit);

        io.netty.channel.Channel bSide = b.link("a").connection().channel();
        bSide.config().setAutoRead(false);
        int chunkBytes = 64 << 10;
        ByteBuffer chunk = ByteBuffer.allocate(chunkBytes);
        int sent = 0;
        // A well-behaved sender: it waits for the link before each frame. The kernel's socket
        // buffers take the first megabytes, so the link turns unwritable and writable again a few
        // times; once they are full it stays unwritable and the sender is stopped for good.
        while (sent < 4000 && link.awaitWritable(500)) {
            link.send(new Frame(ECHO, chunk.duplicate()));
            sent++;
        }
        assertThat(sent).as("frames the sender got out before it was stopped").isLessThan(4000);
        // unwritable above the high water mark (the limit), writable again only below the low
        // one (half of it); the queue exceeds the limit by at most the frame that crossed it
        assertThat(link.queuedBytes()).isGreaterThanOrEqualTo(limit / 2)
                .isLessThanOrEqualTo(limit + 2L * chunkBytes);
        long t0 = System.nanoTime();
        assertThat(link.awaitWritable(300)).isFalse();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(290);
        assertThat(a.connected("b")).isTrue();

        bSide.config().setAutoRead(true);
        assertThat(link.awaitWritable(10_000)).isTrue();
        int expected = sent;
        await().atMost(DEADLINE).until(() -> b.receivedFrom("a") == expected);
        await().atMost(DEADLINE).until(() -> link.queuedBytes() < limit / 2);
    }

    @Test
    void removingAPeerClosesItsLinkAndRefusesIt() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        pair(a, b);
        a.service.removePeer("b");
        await().atMost(DEADLINE).until(() -> !b.connected("a"));
        assertThat(a.service.peers()).isEmpty();
        assertThatThrownBy(() -> a.service.removePeer("b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown peer 'b'");
        // b keeps dialling a, which no longer knows it
        await().atMost(DEADLINE).untilAsserted(() -> assertThat(b.info("a").state()).isEqualTo("refused"));
    }

    @Test
    void aRequestWithoutReplyTimesOut() throws Exception {
        TransportConfig quick = TestSite.fastConfig(tmp).withTimes(100, 1000, 300, 300);
        TestSite a = site("a", quick);
        TestSite b = site("b", quick);
        b.handlers.add((peer, f) -> new CompletableFuture<>(), 105);
        pair(a, b);
        assertThatThrownBy(() -> a.service.link("b").request(frame(105, "x")).get(5, TimeUnit.SECONDS)).cause()
                .isInstanceOf(java.util.concurrent.TimeoutException.class).hasMessageContaining("within 300 ms");
        assertThat(a.connected("b")).isTrue();
    }

    @Test
    void aRequestWithItsOwnTimeoutMayOutwaitTheTransportTimeout() throws Exception {
        TransportConfig quick = TestSite.fastConfig(tmp).withTimes(100, 1000, 300, 300);
        TestSite a = site("a", quick);
        TestSite b = site("b", quick);
        b.handlers.add((peer, f) -> CompletableFuture.supplyAsync(() -> f,
                CompletableFuture.delayedExecutor(900, TimeUnit.MILLISECONDS)), 106);
        pair(a, b);
        // the transport's 300 ms cut the plain request
        assertThatThrownBy(() -> a.service.link("b").request(frame(106, "slow")).get(5, TimeUnit.SECONDS)).cause()
                .isInstanceOf(java.util.concurrent.TimeoutException.class).hasMessageContaining("within 300 ms");
        // its own timeout lets the same slow handler answer
        assertThat(text(a.service.link("b").request(frame(106, "slow"), 5000).get(10, TimeUnit.SECONDS))).isEqualTo("slow");
        // and a short own timeout names itself
        assertThatThrownBy(() -> a.service.link("b").request(frame(106, "slow"), 200).get(5, TimeUnit.SECONDS)).cause()
                .isInstanceOf(java.util.concurrent.TimeoutException.class).hasMessageContaining("within 200 ms");
        assertThatThrownBy(() -> a.service.link("b").request(frame(106, "x"), 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must be positive");
        assertThat(a.connected("b")).isTrue();
    }

    @Test
    void aRemovedPeerIsToldAndItsRedialsAreRefusedInTheTlsHandshake() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        connect(b, a); // b dials; a has no address for b
        assertThat(text(b.service.link("a").request(frame(ECHO, "before")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("before");
        try (LogCapture log = new LogCapture()) {
            a.service.removePeer("b");
            await().atMost(DEADLINE).untilAsserted(() -> {
                assertThat(b.events).anySatisfy(e -> assertThat(e.detail())
                        .contains("site site-a removed this site from its peers and refuses it"));
                // b redials with a full handshake (no resumed session): a's trust manager refuses it
                assertThat(b.info("a").state()).isEqualTo("refused");
                assertThat(b.info("a").detail()).contains("refused this site's certificate");
                assertThat(log.text()).contains("PinnedTrustManager - refused connection from 127.0.0.1:")
                        .contains("certificate " + b.fingerprint() + " belongs to no known peer");
            });
        }
        assertThat(b.connected("a")).isFalse();
        assertThat(a.service.peers()).isEmpty();
        assertThat(a.received).extracting(r -> Wire.string(r.payload())).containsExactly("before");
    }

    @Test
    void aGarbledFrameClosesTheLinkNamingCauseAndPeerAndTheLinkRecovers() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        List<Integer> got = sequenceOf(b, 300);
        connect(a, b);
        PeerLink link = a.service.link("b");
        sendSequence(link, 300, 0, 20);
        Channel ch = a.link("b").connection().channel();
        byte[] garbage = new byte[64];
        Arrays.fill(garbage, (byte) 0x5a);
        try (LogCapture log = new LogCapture()) {
            ch.writeAndFlush(Unpooled.wrappedBuffer(garbage)); // inside TLS, where frames go
            await().atMost(DEADLINE).untilAsserted(() -> {
                assertThat(b.events).anySatisfy(e -> assertThat(e.detail()).contains("closing link to peer a at")
                        .contains("bad frame magic 0x5a5a5a5a, expected 0x44504c46"));
                assertThat(log.text()).contains("ERROR Connection - closing link to peer a at 127.0.0.1:")
                        .contains("bad frame magic 0x5a5a5a5a");
            });
        }
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a") && a.link("b").connection()
                .channel() != ch);
        sendSequence(link, 300, 20, 30);
        await().atMost(DEADLINE).until(() -> got.size() >= 30);
        // the frames before the garbage arrived once each, in order; nothing was made of the garbage
        assertThat(got).containsExactlyElementsOf(range(0, 30));
    }

    @Test
    void aTruncatedFrameIsReportedNamingThePeerAndNothingOfItIsDelivered() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        List<Integer> got = sequenceOf(b, 300);
        connect(a, b);
        PeerLink link = a.service.link("b");
        sendSequence(link, 300, 0, 10);
        Channel ch = a.link("b").connection().channel();
        ByteBuf whole = Wire.encode(ByteBufAllocator.DEFAULT, 300, 0, 0, ByteBuffer.allocate(1000).putInt(0, 10));
        ByteBuf partial = whole.retainedSlice(0, Wire.HEADER_BYTES + 10);
        whole.release();
        try (LogCapture log = new LogCapture()) {
            // the connection ends 10 bytes into a 1000-byte payload
            ch.writeAndFlush(partial).addListener(ChannelFutureListener.CLOSE);
            await().atMost(DEADLINE).untilAsserted(() -> {
                assertThat(b.events).anySatisfy(e -> assertThat(e.detail()).contains("peer a at")
                        .contains("truncated frame: the connection ended after 10 of 1000 payload bytes of a frame"
                                + " of type 300"));
                assertThat(log.text()).contains("ERROR Connection - connection from peer a at 127.0.0.1:")
                        .contains("truncated frame");
            });
        }
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
        sendSequence(link, 300, 11, 15);
        await().atMost(DEADLINE).until(() -> got.size() >= 14);
        // the frames before it arrived once each and in order, none of the partial one
        List<Integer> expected = range(0, 10);
        expected.addAll(range(11, 15));
        assertThat(got).containsExactlyElementsOf(expected);
    }

    @Test
    void afterACrcFailureNothingIsDeliveredTwiceOrOutOfOrder() throws Exception {
        TestSite a = site("a");
        TestSite b = site("b");
        List<Integer> got = sequenceOf(b, 300);
        connect(a, b);
        PeerLink link = a.service.link("b");
        Connection first = a.link("b").connection();
        sendSequence(link, 300, 0, 50);
        try (LogCapture log = new LogCapture()) {
            first.corruptNextOfType.set(300);
            sendSequence(link, 300, 50, 51);
            // frames right behind the bad one: lost with the connection (the sender learns it from
            // PeerUnavailableException or the link state), never delivered out of order
            for (int i = 51; i < 100; i++) {
                try {
                    sendSequence(link, 300, i, i + 1);
                } catch (PeerUnavailableException e) {
                    break;
                }
            }
            await().atMost(DEADLINE).untilAsserted(() -> assertThat(log.text())
                    .contains("ERROR Connection - closing link to peer a at 127.0.0.1:")
                    .contains("frame CRC32C mismatch").contains("(type 300, 8 payload bytes)"));
        }
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a")
                && a.link("b").connection() != first);
        sendSequence(link, 300, 100, 110);
        await().atMost(DEADLINE).until(() -> got.contains(109));
        assertThat(got).startsWith(range(0, 50).toArray(new Integer[0])).doesNotContain(50)
                .containsAll(range(100, 110)).isSortedAccordingTo(Integer::compare).doesNotHaveDuplicates();
    }

    @Test
    void redialsBackOffExponentiallyUpToTheLimitAndReconnectOnceThePeerIsBack() throws Exception {
        long maxBackoff = 400;
        TransportConfig config = TestSite.fastConfig(tmp).withTimes(100, 1000, maxBackoff, 5000);
        TestSite a = site("a", config);
        TestSite b = site("b", config);
        int port = b.service.port();
        b.service.close();
        // a stand-in on b's port takes each connection and closes it: every dial fails after TCP
        List<Long> attempts = new CopyOnWriteArrayList<>();
        ServerSocket standIn = new ServerSocket();
        standIn.setReuseAddress(true);
        standIn.bind(new InetSocketAddress("127.0.0.1", port));
        ExecutorService acceptor = Executors.newSingleThreadExecutor();
        try {
            acceptor.execute(() -> {
                while (!standIn.isClosed()) {
                    try (Socket s = standIn.accept()) {
                        attempts.add(System.nanoTime());
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            a.service.addPeer("b", "127.0.0.1:" + port, b.fingerprint());
            await().atMost(DEADLINE).until(() -> attempts.size() >= 7);
            assertThat(a.info("b").state()).isEqualTo("connecting");
            assertThat(a.info("b").detail()).contains("peer b at 127.0.0.1:" + port);
        } finally {
            standIn.close();
            acceptor.shutdownNow();
        }
        long[] gaps = new long[6];
        for (int i = 0; i < gaps.length; i++) {
            gaps[i] = TimeUnit.NANOSECONDS.toMillis(attempts.get(i + 1) - attempts.get(i));
        }
        // each redial waits at least its delay: 100 ms doubling up to maxBackoffMillis
        long[] delays = {100, 200, 400, 400, 400, 400};
        for (int i = 0; i < gaps.length; i++) {
            assertThat(gaps[i]).as("ms before redial %d (gaps %s)", i + 1, Arrays.toString(gaps))
                    .isGreaterThanOrEqualTo(delays[i] - 30);
        }
        // ... and stops doubling there (doubling on, the last three would take 800 + 1600 + 3200 ms)
        assertThat(gaps[3] + gaps[4] + gaps[5]).as("gaps %s", Arrays.toString(gaps)).isLessThan(3000);

        // the peer is back on its port: the link comes up by itself, and the backoff starts over
        b.config = b.config.withPort(port);
        b.start();
        b.add(a, false);
        await().atMost(DEADLINE).until(() -> a.connected("b") && b.connected("a"));
        assertThat(a.link("b").backoffMillis()).isEqualTo(TransportConfig.MIN_BACKOFF_MILLIS);
        assertThat(text(a.service.link("b").request(frame(ECHO, "back")).get(5, TimeUnit.SECONDS)))
                .isEqualTo("back");
    }
}
