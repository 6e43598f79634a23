package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.*;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.IoError;
import io.doppel.nbd.internal.OptionData.InfoRequest;
import io.doppel.nbd.internal.OptionData.InvalidOption;
import io.doppel.nbd.internal.OptionData.MetaRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.concurrent.ScheduledFuture;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: decodes the handshake, options and requests on the event loop, runs
 * block-device calls on the worker pool and writes each reply as soon as it is ready (replies
 * may overtake each other; the cookie names the request).
 *
 * <p>All fields without {@code volatile} belong to the event loop. Reading pauses (auto-read
 * off, buffered bytes left undecoded) while an export is being opened, while the connection
 * has too many requests or bytes in flight, and while the client does not take its replies.
 */
final class NbdConnection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(NbdConnection.class);

    static final long HANDSHAKE_TIMEOUT_SECONDS = 60;

    private enum State {
        CLIENT_FLAGS, OPTIONS, OPENING, REQUEST, PAYLOAD, DISCARD, DONE
    }

    /** A decoded request; the payload (WRITE only) is a retained slice released after the device call. */
    private static final class Request {
        final int flags;
        final int type;
        final long cookie;
        final long offset;
        final long length;
        ByteBuf payload;
        Rejection rejection;
        boolean succeeded;

        Request(int flags, int type, long cookie, long offset, long length) {
            this.flags = flags;
            this.type = type;
            this.cookie = cookie;
            this.offset = offset;
            this.length = length;
        }

        boolean fua() {
            return (flags & CMD_FLAG_FUA) != 0;
        }

        /** Bytes this request holds in buffers while in flight. */
        long bytes() {
            return type == CMD_READ || type == CMD_WRITE ? length : 0;
        }

        @Override
        public String toString() {
            return commandName(type) + " of " + length + " bytes at " + Long.toUnsignedString(offset);
        }
    }

    /** Why a request is answered with an error without reaching the device. */
    private record Rejection(IoError error, String message) {
    }

    private final NbdService server;
    private ChannelHandlerContext ctx;
    private volatile String remote = "?";
    private ByteBuf input;
    private boolean processing;
    /** Replies written since the last flush. */
    private boolean unflushed;
    private State state = State.CLIENT_FLAGS;
    private ScheduledFuture<?> handshakeTimeout;

    private boolean noZeroes;
    private boolean structured;
    /** The export base:allocation was selected for by the last NBD_OPT_SET_META_CONTEXT, or null. */
    private String metaExport;

    private volatile Export export;
    private volatile BlockDevice device;
    private final AtomicBoolean deviceClosed = new AtomicBoolean();
    private long size;
    private boolean readOnly;
    private boolean blockStatus;

    /** The WRITE whose payload is being read or discarded. */
    private Request pending;
    private long discardRemaining;

    private int inFlight;
    private long inFlightBytes;
    private volatile boolean closed;

    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong bytesIn = new AtomicLong();
    private final AtomicLong bytesOut = new AtomicLong();
    private volatile int inFlightView;
    private volatile int bufferedView;

    NbdConnection(NbdService server) {
        this.server = server;
    }

    ConnectionStatus status() {
        Export e = export;
        return new ConnectionStatus(remote, e == null ? "" : e.name(), requests.get(), bytesIn.get(), bytesOut.get(),
                inFlightView);
    }

    /** Received bytes not decoded yet (a partial request or payload). */
    int buffered() {
        return bufferedView;
    }

    /** The export in use, or null while negotiating. */
    Export export() {
        return export;
    }

    void close() {
        ChannelHandlerContext c = ctx;
        if (c != null) {
            c.close();
        }
    }

    // ---- channel events --------------------------------------------------------------------

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        remote = format(ctx.channel().remoteAddress());
        LOG.debug("Connection from {}", remote);
        server.connectionOpened(this);
        ctx.writeAndFlush(Replies.greeting(ctx.alloc()));
        handshakeTimeout = ctx.executor().schedule(() -> {
            if (state.compareTo(State.REQUEST) < 0) {
                LOG.info("Closing connection from {}: no export selected within {} s", remote,
                        HANDSHAKE_TIMEOUT_SECONDS);
                ctx.close();
            }
        }, HANDSHAKE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (closed || state == State.DONE) {
            in.release();
            return;
        }
        input = input == null ? in : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), input, in);
        process();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            process();
        } else {
            updateAutoRead();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        if (input != null) {
            input.release();
            input = null;
        }
        pending = null; // a WRITE cut off mid-payload: its bytes went with the input buffer
        if (handshakeTimeout != null) {
            handshakeTimeout.cancel(false);
        }
        server.connectionClosed(this);
        Export e = export;
        LOG.debug("Connection from {} closed{}", remote, e == null ? "" : " (export " + e.name() + ")");
        if (inFlight == 0) {
            closeDevice();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof IOException) {
            // resets and broken pipes are how clients go away
            LOG.debug("Connection from {} failed: {}", remote, cause.toString());
        } else {
            LOG.warn("Closing connection from {} after an unexpected error", remote, cause);
        }
        ctx.close();
    }

    // ---- decoding --------------------------------------------------------------------------

    /** Decodes what the buffer holds as far as the state allows. */
    private void process() {
        if (processing) {
            // a reply written by a step made the channel writable again: the running loop goes on
            return;
        }
        processing = true;
        try {
            while (input != null && !closed && canRead() && step()) {
                // each step consumed one message or part of a payload
            }
        } finally {
            processing = false;
            if (input != null) {
                if (!input.isReadable()) {
                    input.release();
                    input = null;
                } else if (input.refCnt() == 1) {
                    input.discardSomeReadBytes();
                }
            }
            bufferedView = input == null ? 0 : input.readableBytes();
            updateAutoRead();
            flushReplies();
        }
    }

    /** Replies are written as requests complete and flushed once per batch: fewer syscalls. */
    private void flushReplies() {
        if (unflushed && !processing) {
            unflushed = false;
            ctx.flush();
        }
    }

    private boolean canRead() {
        if (state == State.OPENING || state == State.DONE || !ctx.channel().isWritable()) {
            return false;
        }
        return state != State.REQUEST
                || inFlight < server.config().maxInFlightRequests()
                        && inFlightBytes < server.config().maxInFlightBytes();
    }

    private void updateAutoRead() {
        if (!closed) {
            ctx.channel().config().setAutoRead(canRead());
        }
    }

    private boolean step() {
        return switch (state) {
            case CLIENT_FLAGS -> readClientFlags();
            case OPTIONS -> readOption();
            case REQUEST -> readRequest();
            case PAYLOAD -> readPayload();
            case DISCARD -> discardPayload();
            default -> false;
        };
    }

    private boolean readClientFlags() {
        if (input.readableBytes() < 4) {
            return false;
        }
        int flags = input.readInt();
        if ((flags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            return refuse("unknown client flags 0x%08x", flags);
        }
        if ((flags & FLAG_C_FIXED_NEWSTYLE) == 0) {
            return refuse("the client does not support fixed newstyle negotiation (client flags 0x%08x)", flags);
        }
        noZeroes = (flags & FLAG_C_NO_ZEROES) != 0;
        state = State.OPTIONS;
        return true;
    }

    private boolean readOption() {
        if (input.readableBytes() < 16) {
            return false;
        }
        int at = input.readerIndex();
        long magic = input.getLong(at);
        if (magic != IHAVEOPT) {
            return refuse("bad option magic 0x%016x", magic);
        }
        int option = input.getInt(at + 8);
        long length = input.getUnsignedInt(at + 12);
        if (length > MAX_OPTION_DATA) {
            input.skipBytes(16);
            if (option == OPT_EXPORT_NAME) {
                return refuse("%s with %d bytes of data", optionName(option), length);
            }
            LOG.warn("Closing connection from {}: {} with {} bytes of data (limit {})", remote, optionName(option),
                    length, MAX_OPTION_DATA);
            state = State.DONE;
            ctx.writeAndFlush(Replies.optionError(ctx.alloc(), option, REP_ERR_TOO_BIG, "option data of " + length
                    + " bytes exceeds the limit of " + MAX_OPTION_DATA + " bytes"))
                    .addListener(ChannelFutureListener.CLOSE);
            return false;
        }
        if (input.readableBytes() < 16 + length) {
            return false;
        }
        input.skipBytes(16);
        handleOption(option, input.readSlice((int) length));
        return true;
    }

    private boolean readRequest() {
        if (input.readableBytes() < REQUEST_HEADER) {
            return false;
        }
        int magic = input.readInt();
        if (magic != REQUEST_MAGIC) {
            return refuse("bad request magic 0x%08x", magic);
        }
        Request r = new Request(input.readUnsignedShort(), input.readUnsignedShort(), input.readLong(),
                input.readLong(), input.readUnsignedInt());
        r.rejection = check(r);
        if (r.type == CMD_WRITE) {
            pending = r;
            if (r.rejection != null) {
                // the payload is skipped as it streams in, never buffered
                discardRemaining = r.length;
                state = State.DISCARD;
            } else {
                state = State.PAYLOAD;
            }
            return true;
        }
        if (r.type == CMD_DISC) {
            LOG.debug("{} disconnects from export {}", remote, export.name());
            state = State.DONE;
            closeWhenIdle();
            return false;
        }
        if (r.rejection != null) {
            reject(r);
        } else if (r.type == CMD_CACHE) {
            respond(r, ok(ctx.alloc(), r));
        } else if (r.type == CMD_BLOCK_STATUS) {
            // every byte of a volume reads as data: one extent, not a hole, not known to be zero
            respond(r, Replies.blockStatus(ctx.alloc(), r.cookie, META_BASE_ALLOCATION_ID, r.length, 0));
        } else {
            dispatch(r);
        }
        return true;
    }

    private boolean readPayload() {
        Request r = pending;
        if (input.readableBytes() < r.length) {
            return false;
        }
        r.payload = input.readRetainedSlice((int) r.length);
        bytesIn.addAndGet(r.length);
        pending = null;
        state = State.REQUEST;
        dispatch(r);
        return true;
    }

    private boolean discardPayload() {
        int n = (int) Math.min(discardRemaining, input.readableBytes());
        input.skipBytes(n);
        discardRemaining -= n;
        if (discardRemaining > 0) {
            return false;
        }
        Request r = pending;
        pending = null;
        state = State.REQUEST;
        reject(r);
        return true;
    }

    /** Closes the connection for a protocol violation, with the reason in the log. */
    private boolean refuse(String reason, Object... args) {
        LOG.warn("Closing connection from {}: {}", remote, String.format(reason, args));
        state = State.DONE;
        ctx.close();
        return false;
    }

    // ---- options ---------------------------------------------------------------------------

    private void handleOption(int option, ByteBuf data) {
        ByteBufAllocator alloc = ctx.alloc();
        int length = data.readableBytes();
        try {
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    String name;
                    try {
                        name = OptionData.exportName(data);
                    } catch (InvalidOption e) {
                        refuse("%s: %s", optionName(option), e.getMessage());
                        return;
                    }
                    open(option, name, List.of());
                }
                case OPT_ABORT -> {
                    LOG.debug("{} aborts the negotiation", remote);
                    state = State.DONE;
                    ctx.writeAndFlush(Replies.option(alloc, option, REP_ACK)).addListener(ChannelFutureListener.CLOSE);
                }
                case OPT_LIST -> {
                    noData(option, length);
                    for (Export e : server.registry().list()) {
                        ctx.write(Replies.server(alloc, option, e.name(), e.description()));
                    }
                    ctx.writeAndFlush(Replies.option(alloc, option, REP_ACK));
                }
                case OPT_STARTTLS -> {
                    noData(option, length);
                    ctx.writeAndFlush(Replies.optionError(alloc, option, REP_ERR_POLICY, "TLS is not configured"));
                }
                case OPT_INFO, OPT_GO -> {
                    InfoRequest request = OptionData.info(option, data);
                    open(option, request.name(), request.infos());
                }
                case OPT_STRUCTURED_REPLY -> {
                    noData(option, length);
                    structured = true;
                    ctx.writeAndFlush(Replies.option(alloc, option, REP_ACK));
                }
                case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> {
                    String name = optionName(option);
                    String which = name.startsWith("NBD_") ? "option " + Integer.toUnsignedString(option) + " ("
                            + name + ")" : name;
                    LOG.debug("{} sent unsupported {}", remote, which);
                    ctx.writeAndFlush(Replies.optionError(alloc, option, REP_ERR_UNSUP, which + " is not supported"));
                }
            }
        } catch (InvalidOption e) {
            LOG.debug("{} sent an invalid {}: {}", remote, optionName(option), e.getMessage());
            ctx.writeAndFlush(Replies.optionError(alloc, option, REP_ERR_INVALID, e.getMessage()));
        }
    }

    private static void noData(int option, int length) throws InvalidOption {
        if (length != 0) {
            throw new InvalidOption(optionName(option) + " takes no data, got " + length + " bytes");
        }
    }

    private void metaContext(int option, ByteBuf data) throws InvalidOption {
        boolean set = option == OPT_SET_META_CONTEXT;
        if (set) {
            metaExport = null; // a SET replaces the selection even when it fails
        }
        MetaRequest request = OptionData.meta(option, data);
        if (!structured) {
            throw new InvalidOption(optionName(option) + " needs structured replies: send NBD_OPT_STRUCTURED_REPLY"
                    + " first");
        }
        boolean match = !set && request.queries().isEmpty();
        for (String q : request.queries()) {
            if (q.indexOf(':') < 1) {
                throw new InvalidOption("query '" + q + "' is not of the form namespace:name");
            }
            match |= q.equals(META_BASE_ALLOCATION) || !set && q.equals("base:");
        }
        Export e = server.resolve(request.export());
        if (e == null) {
            ctx.writeAndFlush(Replies.optionError(ctx.alloc(), option, REP_ERR_UNKNOWN,
                    unknownExport(request.export())));
            return;
        }
        if (match) {
            ctx.write(Replies.metaContext(ctx.alloc(), option, set ? META_BASE_ALLOCATION_ID : 0,
                    META_BASE_ALLOCATION));
            if (set) {
                metaExport = e.name();
            }
        }
        ctx.writeAndFlush(Replies.option(ctx.alloc(), option, REP_ACK));
    }

    private String unknownExport(String name) {
        return name.isEmpty() ? "no default export is configured" : "export '" + name + "' does not exist";
    }

    /** Opens the export's device on a worker (it may block), then answers on the event loop. */
    private void open(int option, String name, List<Integer> infos) {
        Export e = server.resolve(name);
        if (e == null) {
            if (option == OPT_EXPORT_NAME) {
                refuse("%s: %s", optionName(option), unknownExport(name));
            } else {
                LOG.debug("{} asked for unknown export '{}'", remote, name);
                ctx.writeAndFlush(Replies.optionError(ctx.alloc(), option, REP_ERR_UNKNOWN, unknownExport(name)));
            }
            return;
        }
        state = State.OPENING;
        try {
            server.workers().execute(() -> {
                BlockDevice dev = null;
                Exception failure = null;
                try {
                    dev = e.snapshot() == null ? server.devices().open(e.volume(), e.readOnly())
                            : server.devices().openSnapshot(e.volume(), e.snapshot());
                } catch (Exception ex) {
                    failure = ex;
                }
                BlockDevice opened = dev;
                Exception failed = failure;
                try {
                    ctx.executor().execute(() -> opened(option, name, infos, e, opened, failed));
                } catch (RejectedExecutionException ex) {
                    closeQuietly(opened);
                }
            });
        } catch (RejectedExecutionException ex) {
            state = State.DONE;
            ctx.close();
        }
    }

    private void opened(int option, String name, List<Integer> infos, Export e, BlockDevice dev, Exception failure) {
        if (closed) {
            closeOnWorker(dev);
            return;
        }
        if (failure != null) {
            String message = failure instanceof IllegalArgumentException && failure.getMessage() != null
                    ? failure.getMessage() : "cannot open export " + e.name() + ": " + failure.getMessage();
            if (failure instanceof IllegalArgumentException) {
                LOG.info("{} asked for export {}: {}", remote, e.name(), message);
            } else {
                LOG.warn("{} asked for export {}: cannot open {}", remote, e.name(), e.target(), failure);
            }
            if (option == OPT_EXPORT_NAME) {
                refuse("%s: %s", optionName(option), message);
                return;
            }
            int type = failure instanceof DeviceException de && de.error() == IoError.ESHUTDOWN ? REP_ERR_SHUTDOWN
                    : REP_ERR_UNKNOWN;
            ctx.writeAndFlush(Replies.optionError(ctx.alloc(), option, type, message));
            state = State.OPTIONS;
            process();
            return;
        }
        long devSize = dev.size();
        boolean ro = e.readOnly() || dev.readOnly();
        int flags = transmissionFlags(ro);
        if (option != OPT_INFO) {
            // in transmission before the client hears so: status and export removal see it at once
            device = dev;
            export = e;
            size = devSize;
            readOnly = ro;
            blockStatus = e.name().equals(metaExport);
            state = State.REQUEST;
            handshakeTimeout.cancel(false);
            LOG.debug("{} uses export {} ({}, {} bytes, {}{})", remote, e.name(), e.target(), devSize,
                    ro ? "read-only" : "read-write", structured ? ", structured replies" : "");
        }
        ByteBufAllocator alloc = ctx.alloc();
        if (option == OPT_EXPORT_NAME) {
            ctx.writeAndFlush(Replies.exportName(alloc, devSize, flags, noZeroes));
        } else {
            ctx.write(Replies.infoExport(alloc, option, devSize, flags));
            if (infos.contains(INFO_NAME) || !name.equals(e.name())) {
                ctx.write(Replies.infoString(alloc, option, INFO_NAME, e.name()));
            }
            if (infos.contains(INFO_DESCRIPTION) && !e.description().isEmpty()) {
                ctx.write(Replies.infoString(alloc, option, INFO_DESCRIPTION, e.description()));
            }
            ctx.write(Replies.infoBlockSize(alloc, option));
            ctx.writeAndFlush(Replies.option(alloc, option, REP_ACK));
        }
        if (option == OPT_INFO) {
            closeOnWorker(dev);
            state = State.OPTIONS;
        }
        process();
    }

    private int transmissionFlags(boolean ro) {
        int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_CAN_MULTI_CONN | FLAG_SEND_CACHE;
        if (structured) {
            flags |= FLAG_SEND_DF;
        }
        if (ro) {
            flags |= FLAG_READ_ONLY;
        } else {
            flags |= FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES;
        }
        return flags;
    }

    // ---- requests --------------------------------------------------------------------------

    /** The error a request gets without reaching the device, or null if it is valid. */
    private Rejection check(Request r) {
        if ((r.flags & ~CMD_FLAGS_KNOWN) != 0) {
            return new Rejection(IoError.EINVAL, String.format("unsupported command flags 0x%04x", r.flags));
        }
        switch (r.type) {
            case CMD_READ -> {
                if (r.length > MAX_PAYLOAD) {
                    return new Rejection(IoError.EINVAL, "read of " + r.length
                            + " bytes exceeds the maximum payload of " + MAX_PAYLOAD + " bytes");
                }
                return inRange(r) ? null : beyondEnd(IoError.EINVAL, r);
            }
            case CMD_WRITE -> {
                if (readOnly) {
                    return readOnlyExport();
                }
                if (r.length > MAX_PAYLOAD) {
                    return new Rejection(IoError.EINVAL, "write of " + r.length
                            + " bytes exceeds the maximum payload of " + MAX_PAYLOAD + " bytes");
                }
                return inRange(r) ? null : beyondEnd(IoError.ENOSPC, r);
            }
            case CMD_WRITE_ZEROES -> {
                if (readOnly) {
                    return readOnlyExport();
                }
                return inRange(r) ? null : beyondEnd(IoError.ENOSPC, r);
            }
            case CMD_TRIM -> {
                if (readOnly) {
                    return readOnlyExport();
                }
                return inRange(r) ? null : beyondEnd(IoError.EINVAL, r);
            }
            case CMD_CACHE -> {
                return inRange(r) ? null : beyondEnd(IoError.EINVAL, r);
            }
            case CMD_BLOCK_STATUS -> {
                if (!blockStatus) {
                    return new Rejection(IoError.EINVAL, "block status needs base:allocation selected for export "
                            + export.name() + " with NBD_OPT_SET_META_CONTEXT");
                }
                if (r.length == 0) {
                    return new Rejection(IoError.EINVAL, "block status of 0 bytes");
                }
                return inRange(r) ? null : beyondEnd(IoError.EINVAL, r);
            }
            case CMD_FLUSH, CMD_DISC -> {
                return null;
            }
            default -> {
                return new Rejection(IoError.EINVAL, "unknown command " + r.type);
            }
        }
    }

    private boolean inRange(Request r) {
        return r.offset >= 0 && r.offset <= size && r.length <= size - r.offset;
    }

    private Rejection beyondEnd(IoError error, Request r) {
        return new Rejection(error, commandName(r.type) + " of " + r.length + " bytes at offset "
                + Long.toUnsignedString(r.offset) + " goes beyond the end of export " + export.name() + " ("
                + size + " bytes)");
    }

    private Rejection readOnlyExport() {
        return new Rejection(IoError.EPERM, "export " + export.name() + " is read-only");
    }

    private void reject(Request r) {
        LOG.debug("{}: {} refused: {}", remote, r, r.rejection.message());
        respond(r, error(ctx.alloc(), r, r.rejection.error().errno(), r.rejection.message()));
    }

    /** Answers a request handled on the event loop. */
    private void respond(Request r, ByteBuf reply) {
        requests.incrementAndGet();
        ctx.writeAndFlush(reply);
    }

    private void dispatch(Request r) {
        inFlight++;
        inFlightBytes += r.bytes();
        inFlightView = inFlight;
        if (runsInline(r)) {
            // A page-cache read or write takes microseconds: two thread hand-offs would cost more.
            long t0 = System.nanoTime();
            ByteBuf reply = run(r);
            if (r.type == CMD_READ) {
                noteReadTime(r, System.nanoTime() - t0);
            }
            completed(r, reply);
            return;
        }
        try {
            server.workers().execute(() -> {
                ByteBuf out = run(r);
                try {
                    ctx.executor().execute(() -> {
                        completed(r, out);
                        flushReplies();
                    });
                } catch (RejectedExecutionException e) {
                    if (out != null) {
                        out.release();
                    }
                    closeDevice();
                }
            });
        } catch (RejectedExecutionException e) {
            if (r.payload != null) {
                r.payload.release();
                r.payload = null;
            }
            completed(r, error(ctx.alloc(), r, IoError.ESHUTDOWN.errno(), "the NBD server is shutting down"));
        }
    }

    /** Writes up to this size run on the event loop; larger ones are worth a hand-off to run in parallel. */
    private static final long INLINE_MAX_BYTES = 64 * 1024;
    /** An inline read slower than this (plus 1 ns per byte, about 1 GB/s) probably went to the disk. */
    private static final long SLOW_READ_NANOS = 50_000;
    /** Slow reads among the last 32 inline ones that mean the disk, not a preempted thread, is reading. */
    private static final int SLOW_READS_TO_SWITCH = 4;
    /** After a slow inline read, this connection's reads go to the worker pool for this long. */
    private static final long SLOW_READ_BACKOFF_NANOS = 2_000_000_000L;

    /** {@link System#nanoTime()} from which reads may run inline again. */
    private long inlineReadsFrom = System.nanoTime();
    /** One bit per recent inline read, set when it was slow. */
    private int slowReads;

    /**
     * Requests served on the event loop: small writes without FUA, which land in the page cache
     * in microseconds, and reads while they come from the page cache. Reads that wait for the
     * disk (several slow ones among the last 32; one alone may just be a preempted thread) send
     * this connection's reads to the worker pool (in parallel, so the disk sees a queue) for a while.
     * Writes to a volume with a synchronous pair wait for the peer, so they use the pool too. FLUSH and FUA wait for an fsync, and large writes are copied
     * twice (journal and volume), so they always go to the worker pool.
     */
    private boolean runsInline(Request r) {
        return switch (r.type) {
            case CMD_READ -> server.config().inlineReads() && System.nanoTime() - inlineReadsFrom >= 0;
            case CMD_WRITE -> !r.fua() && r.length <= INLINE_MAX_BYTES && device.fastWrites();
            case CMD_TRIM, CMD_WRITE_ZEROES -> !r.fua() && device.fastWrites();
            default -> false;
        };
    }

    private void noteReadTime(Request r, long nanos) {
        slowReads = (slowReads << 1) | (nanos > SLOW_READ_NANOS + r.length ? 1 : 0);
        if (Integer.bitCount(slowReads) >= SLOW_READS_TO_SWITCH) {
            slowReads = 0;
            inlineReadsFrom = System.nanoTime() + SLOW_READ_BACKOFF_NANOS;
            LOG.debug("{}: a read of {} bytes took {} µs; reads go to the worker pool for a while", remote, r.length,
                    nanos / 1000);
        }
    }

    /** The device call; returns the reply (null if the connection closed meanwhile). */
    private ByteBuf run(Request r) {
        ByteBuf reply = null;
        ByteBufAllocator alloc = ctx.alloc();
        try {
            if (!closed) {
                reply = perform(alloc, r);
                r.succeeded = true;
            }
        } catch (DeviceException e) {
            LOG.warn("{} on export {} from {} failed with {}: {}", r, export.name(), remote, e.error(),
                    e.getMessage());
            reply = error(alloc, r, e.error().errno(), e.getMessage());
        } catch (Exception e) {
            LOG.error("{} on export {} from {} failed", r, export.name(), remote, e);
            reply = error(alloc, r, IoError.EIO.errno(), "I/O error: " + e);
        } finally {
            if (r.payload != null) {
                r.payload.release();
                r.payload = null;
            }
        }
        return reply;
    }

    private ByteBuf perform(ByteBufAllocator alloc, Request r) throws IOException {
        BlockDevice dev = device;
        switch (r.type) {
            case CMD_READ -> {
                return read(alloc, dev, r);
            }
            case CMD_WRITE -> {
                if (r.length > 0) {
                    dev.write(r.offset, r.payload.nioBuffer(), r.fua());
                }
            }
            case CMD_FLUSH -> dev.flush();
            case CMD_TRIM -> {
                if (r.length > 0) {
                    dev.trim(r.offset, r.length, r.fua());
                }
            }
            case CMD_WRITE_ZEROES -> {
                if (r.length > 0) {
                    dev.writeZeroes(r.offset, r.length, r.fua());
                }
            }
            default -> throw new IllegalStateException("no device call for " + commandName(r.type));
        }
        return ok(alloc, r);
    }

    private ByteBuf read(ByteBufAllocator alloc, BlockDevice dev, Request r) throws IOException {
        int length = (int) r.length;
        if (length == 0) {
            return ok(alloc, r);
        }
        ByteBuf b = alloc.directBuffer((structured ? STRUCTURED_REPLY_HEADER + 8 : SIMPLE_REPLY_HEADER) + length);
        try {
            if (structured) {
                Replies.writeChunkHeader(b, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie, 8 + length)
                        .writeLong(r.offset);
            } else {
                Replies.writeSimpleHeader(b, 0, r.cookie);
            }
            ByteBuffer dst = b.nioBuffer(b.writerIndex(), length);
            dev.read(r.offset, dst);
            if (dst.hasRemaining()) {
                throw new DeviceException(IoError.EIO, "device " + dev.name() + " returned "
                        + (length - dst.remaining()) + " of " + length + " bytes");
            }
            b.writerIndex(b.writerIndex() + length);
            return b;
        } catch (IOException | RuntimeException e) {
            b.release();
            throw e;
        }
    }

    private ByteBuf ok(ByteBufAllocator alloc, Request r) {
        return structured ? Replies.none(alloc, r.cookie) : Replies.simple(alloc, 0, r.cookie);
    }

    private ByteBuf error(ByteBufAllocator alloc, Request r, int errno, String message) {
        return structured ? Replies.errorChunk(alloc, r.cookie, errno, message)
                : Replies.simple(alloc, errno, r.cookie);
    }

    /** On the event loop, after a worker finished a request. */
    private void completed(Request r, ByteBuf reply) {
        inFlight--;
        inFlightBytes -= r.bytes();
        inFlightView = inFlight;
        if (closed) {
            if (reply != null) {
                reply.release();
            }
            if (inFlight == 0) {
                closeDevice();
            }
            return;
        }
        requests.incrementAndGet();
        if (r.succeeded && r.type == CMD_READ) {
            bytesOut.addAndGet(r.length);
        }
        if (reply != null) {
            ctx.write(reply);
            unflushed = true;
        }
        if (state == State.DONE) {
            closeWhenIdle();
        } else {
            process();
        }
    }

    /** After NBD_CMD_DISC: close once every request is answered. */
    private void closeWhenIdle() {
        flushReplies();
        if (inFlight == 0 && !closed) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** Releases the device once the connection is closed and nothing uses it; runs at most once. */
    void closeDevice() {
        BlockDevice dev = device;
        if (dev != null && deviceClosed.compareAndSet(false, true)) {
            closeOnWorker(dev);
        }
    }

    private void closeOnWorker(BlockDevice dev) {
        if (dev == null) {
            return;
        }
        try {
            server.workers().execute(() -> closeQuietly(dev));
        } catch (RejectedExecutionException e) {
            closeQuietly(dev);
        }
    }

    private static void closeQuietly(BlockDevice dev) {
        if (dev == null) {
            return;
        }
        try {
            dev.close();
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot close device {}", dev.name(), e);
        }
    }

    private static String format(SocketAddress address) {
        if (address instanceof InetSocketAddress a) {
            String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
            return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + a.getPort();
        }
        return String.valueOf(address);
    }
}
