package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.transport.Frame;
import io.doppel.api.transport.FrameHandler;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.PeerListener;
import io.doppel.api.transport.PeerUnavailableException;
import io.doppel.api.transport.Transport;

/**
 * Sites in one JVM joined by in-memory links: frames are copied and delivered in order per
 * direction on a thread of their own, as a TCP link would. A test cuts and heals links and
 * counts the bytes that crossed them. (The real transport is tested in its bundle.)
 */
final class LoopbackNet implements AutoCloseable {

    private final Map<String, SiteTransport> sites = new ConcurrentHashMap<>();
    private final Set<String> cut = ConcurrentHashMap.newKeySet();
    private final Map<String, ExecutorService> lanes = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> bytes = new ConcurrentHashMap<>();
    /** Latency of a direction ("A>B"), simulated by holding each frame in its lane. */
    private final Map<String, Long> delays = new ConcurrentHashMap<>();

    private static String key(String a, String b) {
        return a.compareTo(b) < 0 ? a + "|" + b : b + "|" + a;
    }

    SiteTransport site(String name, FrameHandler handler, PeerListener listener) {
        SiteTransport t = new SiteTransport(name, handler, listener);
        sites.put(name, t);
        return t;
    }

    boolean connected(String a, String b) {
        return sites.containsKey(a) && sites.containsKey(b) && !cut.contains(key(a, b));
    }

    void cut(String a, String b) {
        cut.add(key(a, b));
        notifyBoth(a, b);
    }

    /** One-shot cuts on a frame type ("A>B" to {type, after handling ? 1 : 0}). */
    private final Map<String, int[]> cutOnFrame = new ConcurrentHashMap<>();

    /**
     * The link breaks at the next frame of {@code type} from {@code from} to {@code to}: before
     * the receiver handles it ({@code afterHandling} false), or after, its answer lost. Either
     * way the sender's request fails as a lost link does.
     */
    void cutOnFrame(String from, String to, int type, boolean afterHandling) {
        cutOnFrame.put(from + ">" + to, new int[] {type, afterHandling ? 1 : 0});
    }

    /** Every frame from {@code from} to {@code to} arrives {@code millis} late (in order). */
    void delay(String from, String to, long millis) {
        delays.put(from + ">" + to, millis);
    }

    void heal(String a, String b) {
        cut.remove(key(a, b));
        notifyBoth(a, b);
    }

    private void notifyBoth(String a, String b) {
        SiteTransport sa = sites.get(a);
        SiteTransport sb = sites.get(b);
        if (sa != null) {
            sa.listener.linkChanged(sa.info(b));
        }
        if (sb != null) {
            sb.listener.linkChanged(sb.info(a));
        }
    }

    /** Bytes that went from {@code from} to {@code to}. */
    long bytes(String from, String to) {
        return bytes.computeIfAbsent(from + ">" + to, k -> new AtomicLong()).get();
    }

    void resetBytes() {
        bytes.values().forEach(c -> c.set(0));
    }

    @Override
    public void close() {
        lanes.values().forEach(ExecutorService::shutdownNow);
    }

    private static Frame copy(Frame f) {
        ByteBuffer src = f.payload().duplicate();
        ByteBuffer b = ByteBuffer.allocate(src.remaining());
        b.put(src).flip();
        return new Frame(f.type(), b);
    }

    final class SiteTransport implements Transport {
        final String name;
        final FrameHandler handler;
        final PeerListener listener;

        SiteTransport(String name, FrameHandler handler, PeerListener listener) {
            this.name = name;
            this.handler = handler;
            this.listener = listener;
        }

        PeerInfo info(String peer) {
            boolean up = connected(name, peer);
            return new PeerInfo(peer, peer + ":1", "00", peer, up ? "connected" : "disconnected", up ? "" : "cut",
                    Instant.now(), 10, bytes(name, peer), bytes(peer, name));
        }

        @Override
        public String fingerprint() {
            return name;
        }

        @Override
        public String listenAddress() {
            return name + ":1";
        }

        @Override
        public List<PeerInfo> peers() {
            return sites.keySet().stream().filter(n -> !n.equals(name)).map(this::info).toList();
        }

        @Override
        public Optional<PeerInfo> peer(String n) {
            return sites.containsKey(n) && !n.equals(name) ? Optional.of(info(n)) : Optional.empty();
        }

        @Override
        public PeerInfo addPeer(String n, String address, String fingerprint) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void removePeer(String n) {
            throw new UnsupportedOperationException();
        }

        @Override
        public PeerLink link(String peer) {
            if (!sites.containsKey(peer)) {
                throw new IllegalArgumentException("peer " + peer + " is unknown");
            }
            return new Link(name, peer);
        }
    }

    final class Link implements PeerLink {
        private final String from;
        private final String to;

        Link(String from, String to) {
            this.from = from;
            this.to = to;
        }

        @Override
        public String peer() {
            return to;
        }

        @Override
        public PeerInfo info() {
            return sites.get(from).info(to);
        }

        @Override
        public boolean isConnected() {
            return connected(from, to);
        }

        @Override
        public CompletableFuture<Frame> request(Frame frame) {
            if (!isConnected()) {
                return CompletableFuture.failedFuture(new PeerUnavailableException("link " + from + " to " + to + " is cut"));
            }
            Frame f = copy(frame);
            bytes.computeIfAbsent(from + ">" + to, k -> new AtomicLong()).addAndGet(f.payload().remaining() + 32);
            ExecutorService lane = lanes.computeIfAbsent(from + ">" + to, k -> Executors.newSingleThreadExecutor());
            CompletableFuture<Frame> reply = new CompletableFuture<>();
            long delay = delays.getOrDefault(from + ">" + to, 0L);
            lane.execute(() -> {
                if (delay > 0) {
                    try {
                        Thread.sleep(delay); // simulated link latency
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                if (!isConnected()) {
                    reply.completeExceptionally(new PeerUnavailableException("link " + from + " to " + to + " was cut"));
                    return;
                }
                int[] cutAt = cutOnFrame.get(from + ">" + to);
                boolean cutAfter = false;
                if (cutAt != null && cutAt[0] == f.type() && cutOnFrame.remove(from + ">" + to, cutAt)) {
                    if (cutAt[1] == 0) {
                        cut(from, to);
                        reply.completeExceptionally(new PeerUnavailableException("link " + from + " to " + to + " was cut"));
                        return;
                    }
                    cutAfter = true;
                }
                boolean cutWhenHandled = cutAfter;
                java.util.concurrent.CompletionStage<Frame> handled;
                try {
                    handled = sites.get(to).handler.handle(from, f);
                } catch (RuntimeException e) {
                    // the real transport answers a handler's exception with an error reply
                    System.err.println("LoopbackNet: the handler of " + to + " threw " + e);
                    reply.completeExceptionally(e);
                    return;
                }
                handled.whenComplete((r, e) -> {
                    if (cutWhenHandled) {
                        cut(from, to);
                    }
                    if (e != null) {
                        reply.completeExceptionally(e);
                    } else if (!isConnected()) {
                        reply.completeExceptionally(new PeerUnavailableException("link " + from + " to " + to + " was cut"));
                    } else {
                        Frame out = copy(r);
                        bytes.computeIfAbsent(to + ">" + from, k -> new AtomicLong()).addAndGet(out.payload().remaining() + 32);
                        reply.complete(out);
                    }
                });
            });
            return reply;
        }

        @Override
        public CompletableFuture<Frame> request(Frame frame, long timeoutMillis) {
            return request(frame).orTimeout(timeoutMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        }

        @Override
        public void send(Frame frame) throws IOException {
            request(frame);
        }

        @Override
        public long queuedBytes() {
            return 0;
        }

        @Override
        public boolean awaitWritable(long timeoutMillis) {
            return true;
        }
    }
}
