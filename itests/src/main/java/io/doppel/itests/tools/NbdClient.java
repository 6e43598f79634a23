package io.doppel.itests.tools;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD client over one TCP connection: fixed newstyle handshake with {@code NBD_OPT_GO}, simple
 * replies only, and any number of requests in flight.
 * <p>
 * Every request returns at once with a future. A sender thread writes requests in call order, a
 * receiver thread matches replies to requests by handle and completes their futures (so callbacks
 * attached to them run on the receiver thread and must be short). A future completes:
 * <ul>
 * <li>normally when the server says OK (with the data for a READ);</li>
 * <li>exceptionally with an {@link NbdException} carrying the errno when the server says no;</li>
 * <li>exceptionally with an {@link NbdConnectionLostException} when the connection ends first,
 * whoever ended it: the request may or may not have taken effect.</li>
 * </ul>
 * Offsets are not checked against the export size, so tests can see how a server treats requests
 * beyond its end; requests the server did not advertise (FLUSH, FUA, TRIM, WRITE_ZEROES) are
 * refused here, since sending them would break the protocol.
 */
public final class NbdClient implements AutoCloseable {

    /** Transmission flags, as the server advertises them in {@code NBD_INFO_EXPORT}. */
    public static final int FLAG_HAS_FLAGS = 1;
    public static final int FLAG_READ_ONLY = 1 << 1;
    public static final int FLAG_SEND_FLUSH = 1 << 2;
    public static final int FLAG_SEND_FUA = 1 << 3;
    public static final int FLAG_ROTATIONAL = 1 << 4;
    public static final int FLAG_SEND_TRIM = 1 << 5;
    public static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int FLAG_CAN_MULTI_CONN = 1 << 8;

    /** How long {@link #connect(InetSocketAddress, String)} waits for the connection and the handshake. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private static final Logger LOG = LoggerFactory.getLogger(NbdClient.class);

    private static final long NBDMAGIC = 0x4e42444d41474943L;
    private static final long IHAVEOPT = 0x49484156454F5054L;
    private static final long OLDSTYLE_MAGIC = 0x00420281861253L;
    private static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    private static final int REQUEST_MAGIC = 0x25609513;
    private static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    private static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    private static final int HANDSHAKE_FIXED_NEWSTYLE = 1;
    private static final int HANDSHAKE_NO_ZEROES = 2;
    private static final int OPT_GO = 7;
    private static final int REP_ACK = 1;
    private static final int REP_INFO = 3;
    private static final int REP_ERROR_BIT = 1 << 31;
    private static final int INFO_EXPORT = 0;
    private static final int CMD_FLAG_FUA = 1;
    private static final int MAX_NAME_BYTES = 4096;
    private static final int MAX_OPTION_REPLY_BYTES = 64 * 1024;
    private static final long MAX_LENGTH = 0xFFFF_FFFFL;
    private static final int BUFFER_BYTES = 256 * 1024;
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);
    private static final Map<Integer, String> OPTION_ERRORS = Map.of(1, "NBD_REP_ERR_UNSUP", 2, "NBD_REP_ERR_POLICY",
            3, "NBD_REP_ERR_INVALID", 4, "NBD_REP_ERR_PLATFORM", 5, "NBD_REP_ERR_TLS_REQD", 6, "NBD_REP_ERR_UNKNOWN",
            7, "NBD_REP_ERR_SHUTDOWN", 8, "NBD_REP_ERR_BLOCK_SIZE_REQD", 9, "NBD_REP_ERR_TOO_BIG");

    private final InetSocketAddress address;
    private final String exportName;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final long size;
    private final int flags;
    private final ExecutorService threads;
    private final Future<?> receiver;
    private final Map<Long, Request> inFlight = new ConcurrentHashMap<>();
    private final BlockingQueue<Request> toSend = new LinkedBlockingQueue<>();
    private final AtomicLong handles = new AtomicLong();
    private final AtomicReference<String> lost = new AtomicReference<>();
    private final AtomicBoolean closing = new AtomicBoolean();
    private final Set<Thread> ownThreads = ConcurrentHashMap.newKeySet();

    private NbdClient(InetSocketAddress address, String exportName, Socket socket, DataInputStream in,
            DataOutputStream out, long size, int flags) {
        this.address = address;
        this.exportName = exportName;
        this.socket = socket;
        this.in = in;
        this.out = out;
        this.size = size;
        this.flags = flags;
        this.threads = Executors.newFixedThreadPool(2, threadFactory("nbd-client-" + exportName, ownThreads));
        threads.execute(this::sendLoop);
        this.receiver = threads.submit(this::receiveLoop);
    }

    /** Connects to {@code exportName} at {@code host:port}. */
    public static NbdClient connect(String host, int port, String exportName) {
        return connect(new InetSocketAddress(host, port), exportName);
    }

    /** Connects to {@code exportName} at {@code address}, waiting at most {@link #DEFAULT_TIMEOUT}. */
    public static NbdClient connect(InetSocketAddress address, String exportName) {
        return connect(address, exportName, DEFAULT_TIMEOUT);
    }

    /**
     * Connects and negotiates {@code exportName} with {@code NBD_OPT_GO}. {@code timeout} bounds the
     * TCP connect and each read of the handshake.
     *
     * @throws NbdException if the server is not a fixed newstyle NBD server or refuses the export
     * @throws UncheckedIOException if the connection fails
     */
    public static NbdClient connect(InetSocketAddress address, String exportName, Duration timeout) {
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(exportName, "exportName");
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        if (name.length > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("export name is " + name.length + " bytes, at most " + MAX_NAME_BYTES
                    + " are allowed");
        }
        int millis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        Socket socket = new Socket();
        try {
            socket.setTcpNoDelay(true);
            socket.connect(address, millis);
            socket.setSoTimeout(millis);
            DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), BUFFER_BYTES));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), BUFFER_BYTES));
            long[] export = handshake(in, out, exportName, name, address);
            // transmission may wait on the server for any time (a stalled link): requests have their own deadlines
            socket.setSoTimeout(0);
            NbdClient client = new NbdClient(address, exportName, socket, in, out, export[0], (int) export[1]);
            LOG.debug("Connected to export '{}' at {}: {} bytes, flags 0x{}", exportName, address, export[0],
                    Integer.toHexString((int) export[1]));
            return client;
        } catch (IOException e) {
            closeQuietly(socket);
            throw new UncheckedIOException("Cannot negotiate export '" + exportName + "' with " + address + ": " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(socket);
            throw e;
        }
    }

    /** Returns {size, transmission flags}. */
    private static long[] handshake(DataInputStream in, DataOutputStream out, String exportName, byte[] name,
            InetSocketAddress address) throws IOException {
        long magic = in.readLong();
        if (magic != NBDMAGIC) {
            throw new NbdException(address + " is not an NBD server: greeting 0x" + Long.toHexString(magic));
        }
        long style = in.readLong();
        if (style == OLDSTYLE_MAGIC) {
            throw new NbdException(address + " offers oldstyle negotiation, which this client does not support");
        }
        if (style != IHAVEOPT) {
            throw new NbdException(address + " sent 0x" + Long.toHexString(style) + " instead of IHAVEOPT");
        }
        int handshakeFlags = in.readUnsignedShort();
        if ((handshakeFlags & HANDSHAKE_FIXED_NEWSTYLE) == 0) {
            throw new NbdException(address + " does not offer fixed newstyle negotiation (handshake flags 0x"
                    + Integer.toHexString(handshakeFlags) + ")");
        }
        out.writeInt(HANDSHAKE_FIXED_NEWSTYLE | (handshakeFlags & HANDSHAKE_NO_ZEROES));
        // NBD_OPT_GO: name, then no information requests (NBD_INFO_EXPORT comes regardless)
        out.writeLong(IHAVEOPT);
        out.writeInt(OPT_GO);
        out.writeInt(4 + name.length + 2);
        out.writeInt(name.length);
        out.write(name);
        out.writeShort(0);
        out.flush();

        long size = -1;
        int transmissionFlags = 0;
        while (true) {
            long replyMagic = in.readLong();
            int option = in.readInt();
            int type = in.readInt();
            int length = in.readInt();
            if (replyMagic != OPTION_REPLY_MAGIC || option != OPT_GO) {
                throw new NbdException(address + " broke the handshake: option reply magic 0x"
                        + Long.toHexString(replyMagic) + " for option " + option);
            }
            if (length < 0 || length > MAX_OPTION_REPLY_BYTES) {
                throw new NbdException(address + " sent an option reply of " + Integer.toUnsignedString(length)
                        + " bytes");
            }
            byte[] data = new byte[length];
            in.readFully(data);
            if ((type & REP_ERROR_BIT) != 0) {
                String kind = OPTION_ERRORS.getOrDefault(type & ~REP_ERROR_BIT, "error 0x" + Integer.toHexString(type));
                String message = data.length == 0 ? "" : ": " + new String(data, StandardCharsets.UTF_8);
                throw new NbdException(address + " refused export '" + exportName + "': " + kind + message);
            }
            if (type == REP_ACK) {
                break;
            }
            if (type != REP_INFO) {
                throw new NbdException(address + " sent option reply type " + type + " to NBD_OPT_GO");
            }
            // other information types are hints this client does not use
            if (data.length >= 12 && ((data[0] & 0xff) << 8 | data[1] & 0xff) == INFO_EXPORT) {
                DataInputStream info = new DataInputStream(new ByteArrayInputStream(data, 2, 10));
                size = info.readLong();
                transmissionFlags = info.readUnsignedShort();
            }
        }
        if (size < 0) {
            throw new NbdException(address + " acknowledged export '" + exportName + "' without NBD_INFO_EXPORT");
        }
        return new long[] {size, transmissionFlags};
    }

    public String exportName() {
        return exportName;
    }

    public InetSocketAddress address() {
        return address;
    }

    /** The export's size in bytes. */
    public long size() {
        return size;
    }

    /** The transmission flags ({@code FLAG_*}). */
    public int flags() {
        return flags;
    }

    public boolean isReadOnly() {
        return has(FLAG_READ_ONLY);
    }

    public boolean canFlush() {
        return has(FLAG_SEND_FLUSH);
    }

    public boolean canFua() {
        return has(FLAG_SEND_FUA);
    }

    public boolean canTrim() {
        return has(FLAG_SEND_TRIM);
    }

    public boolean canWriteZeroes() {
        return has(FLAG_SEND_WRITE_ZEROES);
    }

    public boolean canMultiConn() {
        return has(FLAG_CAN_MULTI_CONN);
    }

    /** Requests sent or queued and not yet answered. */
    public int inFlight() {
        return inFlight.size();
    }

    /** False once the connection ended, for whatever reason. */
    public boolean isConnected() {
        return lost.get() == null;
    }

    public CompletableFuture<byte[]> read(long offset, int length) {
        checkRange(offset, length);
        return submit(NbdCommand.READ, 0, offset, length, null);
    }

    /** Writes {@code data}; the array is sent as it is when its turn comes, so it must not change meanwhile. */
    public CompletableFuture<Void> write(long offset, byte[] data) {
        return write(offset, data, false);
    }

    /** Writes {@code data}, with {@code NBD_CMD_FLAG_FUA} if {@code fua}. */
    public CompletableFuture<Void> write(long offset, byte[] data, boolean fua) {
        Objects.requireNonNull(data, "data");
        checkRange(offset, data.length);
        return submit(NbdCommand.WRITE, fuaFlag(fua), offset, data.length, data);
    }

    public CompletableFuture<Void> flush() {
        require(FLAG_SEND_FLUSH, NbdCommand.FLUSH);
        return submit(NbdCommand.FLUSH, 0, 0, 0, null);
    }

    public CompletableFuture<Void> trim(long offset, long length) {
        require(FLAG_SEND_TRIM, NbdCommand.TRIM);
        checkRange(offset, length);
        return submit(NbdCommand.TRIM, 0, offset, length, null);
    }

    public CompletableFuture<Void> writeZeroes(long offset, long length) {
        return writeZeroes(offset, length, false);
    }

    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
        require(FLAG_SEND_WRITE_ZEROES, NbdCommand.WRITE_ZEROES);
        checkRange(offset, length);
        return submit(NbdCommand.WRITE_ZEROES, fuaFlag(fua), offset, length, null);
    }

    /**
     * Waits up to {@code wait} for the requests in flight, then sends {@code NBD_CMD_DISC}, waits up
     * to {@code wait} for the server to close, and closes. Requests still in flight then fail with
     * {@link NbdConnectionLostException}.
     */
    public void disconnect(Duration wait) {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        if (isConnected()) {
            long deadline = System.nanoTime() + wait.toNanos();
            CompletableFuture<?>[] open = inFlight.values().stream().map(r -> r.future).toArray(CompletableFuture[]::new);
            awaitQuietly(CompletableFuture.allOf(open), deadline);
            toSend.add(new Request(handles.incrementAndGet(), NbdCommand.DISC, 0, 0, 0, null));
            awaitQuietly(receiver, deadline);
        }
        connectionLost("closed by the client", null);
        stopThreads();
    }

    /** {@link #disconnect(Duration) Disconnects}, waiting at most 5 s each for the replies and the server. */
    @Override
    public void close() {
        disconnect(CLOSE_WAIT);
    }

    /**
     * Drops the connection at once with a TCP reset, as a crashing host would: every request in
     * flight fails with {@link NbdConnectionLostException}.
     */
    public void abort() {
        closing.set(true);
        connectionLost("aborted by the client", null);
        stopThreads();
    }

    @Override
    public String toString() {
        return "NBD client of '" + exportName + "' at " + address;
    }

    private boolean has(int flag) {
        return (flags & flag) != 0;
    }

    private void require(int flag, NbdCommand command) {
        if (!has(flag)) {
            throw new IllegalStateException("export '" + exportName + "' at " + address + " does not accept "
                    + command + " (transmission flags 0x" + Integer.toHexString(flags) + ")");
        }
    }

    private int fuaFlag(boolean fua) {
        if (fua) {
            require(FLAG_SEND_FUA, NbdCommand.WRITE);
            return CMD_FLAG_FUA;
        }
        return 0;
    }

    private static void checkRange(long offset, long length) {
        if (offset < 0 || length < 0 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("invalid request range: offset " + offset + ", length " + length
                    + " (offset must be >= 0, length 0.." + MAX_LENGTH + ")");
        }
    }

    private <T> CompletableFuture<T> submit(NbdCommand command, int commandFlags, long offset, long length,
            byte[] data) {
        if (closing.get()) {
            throw new IllegalStateException(this + " is closed");
        }
        Request request = new Request(handles.incrementAndGet(), command, commandFlags, offset, length, data);
        inFlight.put(request.handle, request);
        // connectionLost() marks the client lost before it sweeps inFlight, so a request that
        // slipped in after the sweep is seen here
        String why = lost.get();
        if (why != null && inFlight.remove(request.handle) != null) {
            request.fail(lostException(request, why, null));
        } else {
            toSend.add(request);
        }
        @SuppressWarnings("unchecked")
        CompletableFuture<T> future = (CompletableFuture<T>) request.future;
        return future;
    }

    private void sendLoop() {
        try {
            while (true) {
                Request request = toSend.take();
                out.writeInt(REQUEST_MAGIC);
                out.writeShort(request.flags);
                out.writeShort(request.command.code());
                out.writeLong(request.handle);
                out.writeLong(request.offset);
                out.writeInt((int) request.length);
                if (request.data != null) {
                    out.write(request.data);
                }
                // batch the requests queued together into one flush
                if (toSend.isEmpty()) {
                    out.flush();
                }
                if (request.command == NbdCommand.DISC) {
                    socket.shutdownOutput();
                    return;
                }
            }
        } catch (IOException e) {
            connectionLost("sending failed", e);
        } catch (InterruptedException e) {
            // closing
        }
    }

    private Void receiveLoop() {
        try {
            while (true) {
                int magic = in.readInt();
                if (magic == STRUCTURED_REPLY_MAGIC) {
                    throw new NbdException("structured reply although none was negotiated");
                }
                if (magic != SIMPLE_REPLY_MAGIC) {
                    throw new NbdException("bad reply magic 0x" + Integer.toHexString(magic));
                }
                int error = in.readInt();
                long handle = in.readLong();
                Request request = inFlight.get(handle);
                if (request == null) {
                    throw new NbdException("reply for handle " + handle + ", which is not in flight");
                }
                byte[] data = null;
                // servers send no payload with an error, even for a READ (qemu-nbd, nbdkit, Doppel)
                if (error == 0 && request.command == NbdCommand.READ) {
                    data = new byte[(int) request.length];
                    in.readFully(data);
                }
                inFlight.remove(handle);
                if (error == 0) {
                    request.succeed(data);
                } else {
                    request.fail(NbdException.errorReply(request.command, request.offset, request.length, error));
                }
            }
        } catch (IOException e) {
            connectionLost(closing.get() ? "closed by the client" : "connection lost", e);
        } catch (NbdException e) {
            LOG.warn("{}: protocol violation by the server: {}", this, e.getMessage());
            connectionLost("protocol violation by the server: " + e.getMessage(), e);
        }
        return null;
    }

    /** Marks the client lost, resets the socket and fails every request in flight. */
    private void connectionLost(String why, Throwable cause) {
        if (lost.compareAndSet(null, why)) {
            if (cause != null && !closing.get()) {
                LOG.info("{}: {} ({}), {} request(s) in flight", this, why, cause.toString(), inFlight.size());
            }
            try {
                socket.setSoLinger(true, 0);
            } catch (SocketException e) {
                // closing alone still ends the connection
            }
            closeQuietly(socket);
        }
        String reason = lost.get();
        for (Request request : List.copyOf(inFlight.values())) {
            if (inFlight.remove(request.handle) != null) {
                request.fail(lostException(request, reason, cause));
            }
        }
        // after the sweep, so callbacks on the receiver thread do not run interrupted
        threads.shutdownNow();
    }

    private NbdConnectionLostException lostException(Request request, String why, Throwable cause) {
        return new NbdConnectionLostException(request.describe() + ": no reply from " + address + ", " + why, cause);
    }

    private void stopThreads() {
        threads.shutdownNow();
        if (ownThreads.contains(Thread.currentThread())) {
            // called from a callback on the receiver thread: it ends once the callback returns
            return;
        }
        try {
            if (!threads.awaitTermination(CLOSE_WAIT.toSeconds(), TimeUnit.SECONDS)) {
                LOG.warn("{}: threads still running after close", this);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void awaitQuietly(Future<?> future, long deadlineNanos) {
        try {
            future.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // the caller closes regardless
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // nothing left to do with a socket that cannot close
        }
    }

    private static ThreadFactory threadFactory(String prefix, Set<Thread> created) {
        ThreadFactory defaults = Executors.defaultThreadFactory();
        AtomicInteger count = new AtomicInteger();
        return runnable -> {
            Thread thread = defaults.newThread(runnable);
            created.add(thread);
            thread.setName(prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** One request and the future its reply completes. */
    private static final class Request {
        final long handle;
        final NbdCommand command;
        final int flags;
        final long offset;
        final long length;
        final byte[] data;
        final CompletableFuture<Object> future = new CompletableFuture<>();

        Request(long handle, NbdCommand command, int flags, long offset, long length, byte[] data) {
            this.handle = handle;
            this.command = command;
            this.flags = flags;
            this.offset = offset;
            this.length = length;
            this.data = data;
        }

        void succeed(byte[] readData) {
            future.complete(command == NbdCommand.READ ? readData : null);
        }

        void fail(Throwable failure) {
            future.completeExceptionally(failure);
        }

        String describe() {
            return command + ((flags & CMD_FLAG_FUA) != 0 ? "+FUA" : "") + " offset " + offset + " length " + length;
        }
    }
}
