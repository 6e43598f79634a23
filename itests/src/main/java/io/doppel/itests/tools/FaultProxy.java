package io.doppel.itests.tools;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP proxy between a client and one target that can misbehave on command: it delays,
 * throttles, stalls or cuts the bytes of each direction, and counts them.
 * <p>
 * It listens on {@code 127.0.0.1} on an ephemeral port and forwards every accepted connection to
 * the target. It only moves bytes, so it carries TLS or any other protocol. Each connection is
 * served by four tasks (a reader and a writer per direction) on the proxy's executor; a reader
 * hands chunks to its writer through a bounded queue, so a delay holds data without slowing the
 * sender and a stalled or throttled writer pushes back on the sender through TCP.
 * <p>
 * The faults of a direction apply to all its connections at once and change at run time:
 * <ul>
 * <li>{@link #delay(Direction, Duration) delay}: every byte is held for this long after it was
 * read, in order (data read under the old delay keeps its release time);</li>
 * <li>{@link #bandwidth(Direction, long) bandwidth}: a token bucket in bytes per second shared by
 * every connection, like one WAN link;</li>
 * <li>{@link #stall(Direction) stall}: nothing is forwarded, connections stay open, until
 * {@link #resume(Direction)} or {@link #heal()};</li>
 * <li>{@link #cut()}: every connection is reset now, and new ones are accepted and reset at once
 * until {@link #heal()}.</li>
 * </ul>
 */
public final class FaultProxy implements AutoCloseable {

    /** The two directions of a connection. */
    public enum Direction {
        /** Client to target. */
        UPSTREAM,
        /** Target to client. */
        DOWNSTREAM
    }

    private static final Logger LOG = LoggerFactory.getLogger(FaultProxy.class);
    private static final int READ_SIZE = 64 * 1024;
    private static final long DEFAULT_QUEUE_LIMIT = 8L << 20;
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;
    private static final long CLOSE_WAIT_SECONDS = 5;

    private final InetSocketAddress target;
    private final ServerSocket server;
    private final ExecutorService executor;
    private final Link upstream = new Link(Direction.UPSTREAM);
    private final Link downstream = new Link(Direction.DOWNSTREAM);
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicInteger connectionIds = new AtomicInteger();
    private final long queueLimit;
    private final Object state = new Object();
    private boolean cut;
    private boolean closed;

    private FaultProxy(InetSocketAddress target, long queueLimit) throws IOException {
        this.target = target;
        this.queueLimit = queueLimit;
        this.server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        this.executor = Executors.newCachedThreadPool(threadFactory("fault-proxy-" + server.getLocalPort()));
        executor.execute(this::acceptLoop);
        LOG.info("Fault proxy on 127.0.0.1:{} forwards to {}", server.getLocalPort(), target);
    }

    /** Starts a proxy to {@code target} on {@code 127.0.0.1} and an ephemeral port. */
    public static FaultProxy start(InetSocketAddress target) {
        return start(target, DEFAULT_QUEUE_LIMIT);
    }

    /** Starts a proxy to {@code host:port} on {@code 127.0.0.1} and an ephemeral port. */
    public static FaultProxy start(String host, int port) {
        return start(new InetSocketAddress(host, port));
    }

    /**
     * Starts a proxy that holds at most {@code queueLimit} bytes per connection and direction (a
     * delayed direction can carry at most {@code queueLimit / delay} bytes per second).
     */
    public static FaultProxy start(InetSocketAddress target, long queueLimit) {
        Objects.requireNonNull(target, "target");
        if (queueLimit < READ_SIZE) {
            throw new IllegalArgumentException("queueLimit must be at least " + READ_SIZE + " bytes, was " + queueLimit);
        }
        try {
            return new FaultProxy(target, queueLimit);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot open a listening socket for a proxy to " + target, e);
        }
    }

    /** The port clients connect to. */
    public int port() {
        return server.getLocalPort();
    }

    /** The address clients connect to. */
    public InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port());
    }

    public InetSocketAddress target() {
        return target;
    }

    /** Holds every byte of {@code direction} for {@code delay} (zero removes the delay). */
    public FaultProxy delay(Direction direction, Duration delay) {
        Objects.requireNonNull(delay, "delay");
        if (delay.isNegative()) {
            throw new IllegalArgumentException("delay must not be negative, was " + delay);
        }
        link(direction).delayNanos = delay.toNanos();
        wakeAll();
        return this;
    }

    /** Holds the bytes of both directions for {@code delay} each (the round trip grows by twice that). */
    public FaultProxy delay(Duration delay) {
        delay(Direction.UPSTREAM, delay);
        return delay(Direction.DOWNSTREAM, delay);
    }

    /** Limits {@code direction} to {@code bytesPerSecond} over all connections; 0 removes the limit. */
    public FaultProxy bandwidth(Direction direction, long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidth must be 0 (unlimited) or positive, was " + bytesPerSecond);
        }
        link(direction).bucket.setRate(bytesPerSecond, System.nanoTime());
        wakeAll();
        return this;
    }

    /** Limits both directions to {@code bytesPerSecond} each; 0 removes the limits. */
    public FaultProxy bandwidth(long bytesPerSecond) {
        bandwidth(Direction.UPSTREAM, bytesPerSecond);
        return bandwidth(Direction.DOWNSTREAM, bytesPerSecond);
    }

    /** Stops forwarding {@code direction}; connections stay open and senders fill the buffers. */
    public FaultProxy stall(Direction direction) {
        link(direction).stalled = true;
        return this;
    }

    /** Stops forwarding in both directions. */
    public FaultProxy stall() {
        stall(Direction.UPSTREAM);
        return stall(Direction.DOWNSTREAM);
    }

    /** Forwards {@code direction} again after a {@link #stall(Direction) stall}. */
    public FaultProxy resume(Direction direction) {
        link(direction).stalled = false;
        wakeAll();
        return this;
    }

    /** Forwards both directions again. */
    public FaultProxy resume() {
        resume(Direction.UPSTREAM);
        return resume(Direction.DOWNSTREAM);
    }

    public boolean isStalled(Direction direction) {
        return link(direction).stalled;
    }

    /**
     * Resets every open connection now (both sides see a reset; bytes held by the proxy are
     * dropped), and resets new connections as soon as they are accepted until {@link #heal()}.
     */
    public void cut() {
        List<Connection> open;
        synchronized (state) {
            cut = true;
            open = List.copyOf(connections);
        }
        LOG.info("Fault proxy on port {}: cut, resetting {} connection(s)", port(), open.size());
        open.forEach(Connection::abort);
    }

    /** Ends a {@link #cut()} and every stall: new connections go through again. */
    public void heal() {
        synchronized (state) {
            cut = false;
        }
        upstream.stalled = false;
        downstream.stalled = false;
        wakeAll();
        LOG.info("Fault proxy on port {}: healed", port());
    }

    public boolean isCut() {
        synchronized (state) {
            return cut;
        }
    }

    /** Removes every fault: no delay, no bandwidth limit, no stall, no cut. Counters are kept. */
    public FaultProxy clearFaults() {
        heal();
        delay(Duration.ZERO);
        return bandwidth(0);
    }

    /** Bytes forwarded in {@code direction} since the last {@link #resetCounters()}. */
    public long bytes(Direction direction) {
        return link(direction).sinceReset.get();
    }

    /** Bytes forwarded in {@code direction} since the proxy started. */
    public long totalBytes(Direction direction) {
        return link(direction).total.get();
    }

    /** Sets the counters read by {@link #bytes(Direction)} to zero. */
    public void resetCounters() {
        upstream.sinceReset.set(0);
        downstream.sinceReset.set(0);
    }

    /** Connections open right now (accepted, connected to the target, not yet closed). */
    public int openConnections() {
        return connections.size();
    }

    /** Connections accepted since the proxy started, including those reset because of a cut. */
    public long acceptedConnections() {
        return accepted.get();
    }

    /** Connections reset at once because the proxy was cut. */
    public long refusedConnections() {
        return refused.get();
    }

    /** Stops listening, resets every connection and waits for the proxy's threads to end. */
    @Override
    public void close() {
        List<Connection> open;
        synchronized (state) {
            if (closed) {
                return;
            }
            closed = true;
            open = List.copyOf(connections);
        }
        closeQuietly(server);
        open.forEach(Connection::abort);
        executor.shutdownNow();
        try {
            if (!executor.awaitTermination(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("Fault proxy on port {}: threads still running {} s after close", port(), CLOSE_WAIT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("Fault proxy on port {} closed: {} connection(s) accepted, {} B up, {} B down", port(),
                accepted.get(), upstream.total.get(), downstream.total.get());
    }

    @Override
    public String toString() {
        return "fault proxy 127.0.0.1:" + port() + " -> " + target;
    }

    private Link link(Direction direction) {
        return Objects.requireNonNull(direction, "direction") == Direction.UPSTREAM ? upstream : downstream;
    }

    private void wakeAll() {
        for (Connection connection : connections) {
            connection.up.wake();
            connection.down.wake();
        }
    }

    private void acceptLoop() {
        while (true) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (!server.isClosed()) {
                    LOG.warn("Fault proxy on port {} stops accepting", port(), e);
                }
                return;
            }
            accepted.incrementAndGet();
            boolean refuse;
            synchronized (state) {
                refuse = cut || closed;
            }
            if (refuse) {
                refused.incrementAndGet();
                reset(client);
                continue;
            }
            try {
                executor.execute(() -> open(client));
            } catch (RejectedExecutionException e) {
                reset(client);
                return;
            }
        }
    }

    private void open(Socket client) {
        Socket upstreamSocket = new Socket();
        try {
            client.setTcpNoDelay(true);
            upstreamSocket.setTcpNoDelay(true);
            upstreamSocket.connect(target, CONNECT_TIMEOUT_MILLIS);
        } catch (IOException e) {
            LOG.warn("Fault proxy on port {} cannot reach {}: {}", port(), target, e.toString());
            reset(client);
            closeQuietly(upstreamSocket);
            return;
        }
        Connection connection = new Connection(connectionIds.incrementAndGet(), client, upstreamSocket);
        synchronized (state) {
            if (cut || closed) {
                refused.incrementAndGet();
                connection.abort();
                return;
            }
            connections.add(connection);
        }
        try {
            executor.execute(connection.up::readLoop);
            executor.execute(connection.up::writeLoop);
            executor.execute(connection.down::readLoop);
            executor.execute(connection.down::writeLoop);
        } catch (RejectedExecutionException e) {
            connection.abort();
        }
    }

    private static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0);
        } catch (SocketException e) {
            // closing alone still ends the connection
        }
        closeQuietly(socket);
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            // nothing left to do with a socket that cannot close
        }
    }

    private static ThreadFactory threadFactory(String prefix) {
        ThreadFactory defaults = Executors.defaultThreadFactory();
        AtomicInteger count = new AtomicInteger();
        return runnable -> {
            Thread thread = defaults.newThread(runnable);
            thread.setName(prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** The settings and counters of one direction. */
    private static final class Link {
        final Direction direction;
        final TokenBucket bucket = new TokenBucket();
        final AtomicLong total = new AtomicLong();
        final AtomicLong sinceReset = new AtomicLong();
        volatile long delayNanos;
        volatile boolean stalled;

        Link(Direction direction) {
            this.direction = direction;
        }
    }

    private record Chunk(byte[] data, long releaseAt) {
    }

    /** One proxied connection: a client socket, a target socket and a pipe each way. */
    private final class Connection {
        final int id;
        final Socket client;
        final Socket server;
        final Pipe up;
        final Pipe down;
        final AtomicBoolean finished = new AtomicBoolean();
        final AtomicInteger pipesDone = new AtomicInteger();

        Connection(int id, Socket client, Socket server) {
            this.id = id;
            this.client = client;
            this.server = server;
            this.up = new Pipe(this, upstream, client, server);
            this.down = new Pipe(this, downstream, server, client);
        }

        /** Both directions reached end of stream and were passed on. */
        void pipeDone() {
            if (pipesDone.incrementAndGet() == 2 && finished.compareAndSet(false, true)) {
                closeQuietly(client);
                closeQuietly(server);
                connections.remove(this);
                LOG.debug("Fault proxy on port {}: connection {} closed by its ends", port(), id);
            }
        }

        /** Resets both sockets and drops what the pipes hold. */
        void abort() {
            if (!finished.compareAndSet(false, true)) {
                return;
            }
            up.close();
            down.close();
            reset(client);
            reset(server);
            connections.remove(this);
            LOG.debug("Fault proxy on port {}: connection {} reset", port(), id);
        }
    }

    /** One direction of one connection. */
    private final class Pipe {
        final Connection connection;
        final Link link;
        final Socket from;
        final Socket to;
        final ReentrantLock lock = new ReentrantLock();
        final Condition changed = lock.newCondition();
        final ArrayDeque<Chunk> queue = new ArrayDeque<>();
        long queued;
        boolean endOfStream;
        boolean closed;

        Pipe(Connection connection, Link link, Socket from, Socket to) {
            this.connection = connection;
            this.link = link;
            this.from = from;
            this.to = to;
        }

        void wake() {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        void close() {
            lock.lock();
            try {
                closed = true;
                queue.clear();
                queued = 0;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        void readLoop() {
            byte[] buffer = new byte[READ_SIZE];
            try {
                InputStream in = from.getInputStream();
                while (true) {
                    int n = in.read(buffer);
                    if (n < 0) {
                        lock.lock();
                        try {
                            endOfStream = true;
                            changed.signalAll();
                        } finally {
                            lock.unlock();
                        }
                        return;
                    }
                    Chunk chunk = new Chunk(Arrays.copyOf(buffer, n), System.nanoTime() + link.delayNanos);
                    lock.lock();
                    try {
                        while (!closed && queued >= queueLimit) {
                            changed.await();
                        }
                        if (closed) {
                            return;
                        }
                        queue.addLast(chunk);
                        queued += n;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                }
            } catch (IOException e) {
                failed(e);
            } catch (InterruptedException e) {
                connection.abort();
            }
        }

        void writeLoop() {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk chunk = nextDueChunk();
                    if (chunk == null) {
                        break;
                    }
                    int offset = 0;
                    while (offset < chunk.data.length) {
                        int piece = Math.min(chunk.data.length - offset, link.bucket.maxPiece());
                        if (!awaitTokens(piece)) {
                            return;
                        }
                        out.write(chunk.data, offset, piece);
                        offset += piece;
                        link.total.addAndGet(piece);
                        link.sinceReset.addAndGet(piece);
                    }
                    lock.lock();
                    try {
                        queued -= chunk.data.length;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                }
                // the source ended its stream and everything it sent is through: pass the end on
                to.shutdownOutput();
                connection.pipeDone();
            } catch (IOException e) {
                failed(e);
            } catch (InterruptedException e) {
                connection.abort();
            }
        }

        /** The next chunk once its delay has passed and the direction is not stalled; null at end of stream. */
        private Chunk nextDueChunk() throws InterruptedException {
            lock.lock();
            try {
                while (true) {
                    if (closed) {
                        return null;
                    }
                    Chunk head = queue.peekFirst();
                    if (head == null) {
                        if (endOfStream) {
                            return null;
                        }
                        changed.await();
                        continue;
                    }
                    long wait = head.releaseAt - System.nanoTime();
                    if (wait > 0) {
                        changed.awaitNanos(wait);
                    } else if (link.stalled) {
                        changed.await();
                    } else {
                        return queue.pollFirst();
                    }
                }
            } finally {
                lock.unlock();
            }
        }

        /** Waits until the direction is not stalled and the bucket gives {@code bytes}; false once closed. */
        private boolean awaitTokens(int bytes) throws InterruptedException {
            lock.lock();
            try {
                while (true) {
                    if (closed) {
                        return false;
                    }
                    if (link.stalled) {
                        changed.await();
                        continue;
                    }
                    long wait = link.bucket.tryTake(bytes, System.nanoTime());
                    if (wait == 0) {
                        return true;
                    }
                    changed.awaitNanos(wait);
                }
            } finally {
                lock.unlock();
            }
        }

        private void failed(IOException e) {
            boolean expected;
            lock.lock();
            try {
                expected = closed;
            } finally {
                lock.unlock();
            }
            if (!expected) {
                LOG.debug("Fault proxy on port {}: connection {} {} failed: {}", port(), connection.id,
                        link.direction, e.toString());
            }
            connection.abort();
        }
    }
}
