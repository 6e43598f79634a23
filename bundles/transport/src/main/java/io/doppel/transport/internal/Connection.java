package io.doppel.transport.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;

import io.doppel.api.transport.Frame;
import io.doppel.api.transport.FrameHandler;
import io.doppel.api.transport.PeerUnavailableException;
import io.doppel.api.transport.RemoteException;
import io.doppel.transport.internal.PinnedTrustManager.RefusedCertificateException;
import io.doppel.transport.internal.Wire.FrameException;
import io.doppel.transport.internal.Wire.Truncated;
import io.doppel.transport.internal.Wire.WireFrame;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.concurrent.ScheduledFuture;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One TLS connection to a peer, last in its pipeline: authenticates the peer (certificate
 * pinned, then HELLO), then carries heartbeats, requests, replies and service frames until
 * it closes. A {@link Link} owns at most one attached connection at a time.
 *
 * <p>Inbound frames are handled on the connection's event loop in arrival order. Writes may
 * come from any thread: each is one {@code writeAndFlush} of a frame encoded on the caller's
 * thread, and Netty runs a thread's writes in the order it made them.
 */
final class Connection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(Connection.class);

    /** A request waiting for its reply. */
    private record Pending(int type, long deadlineNanos, long timeoutMillis, CompletableFuture<Frame> future) {
    }

    private final TransportService transport;
    private final Link dialedFor;
    private final Traffic traffic;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong nextId = new AtomicLong(1);

    private volatile Channel channel;
    private volatile Link link;
    private volatile String remote = "unknown address";
    private volatile boolean closed;
    private boolean attached;
    private boolean helloDone;
    /** The TLS handshake succeeded: frames (a CLOSE at least) can be sent. */
    private volatile boolean tlsDone;
    private ScheduledFuture<?> helloTimeout;
    private ScheduledFuture<?> heartbeat;
    /** Why this side closes it (first reason wins) and whether that is a refusal. */
    private volatile String reason;
    private volatile boolean refused;

    /** Test hook: the next frame of this type written gets one byte flipped after its CRC was computed. */
    final AtomicInteger corruptNextOfType = new AtomicInteger(-1);

    Connection(TransportService transport, Link dialedFor, Traffic traffic) {
        this.transport = transport;
        this.dialedFor = dialedFor;
        this.link = dialedFor;
        this.traffic = traffic;
    }

    boolean dialedByUs() {
        return dialedFor != null;
    }

    boolean wasAttached() {
        return attached;
    }

    Traffic traffic() {
        return traffic;
    }

    String remote() {
        return remote;
    }

    Channel channel() {
        return channel;
    }

    private String peerName() {
        Link l = link;
        return l == null ? "(unidentified)" : l.peer();
    }

    // ---- lifecycle ---------------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        channel = ctx.channel();
        SocketAddress a = ctx.channel().remoteAddress();
        if (a instanceof InetSocketAddress ia) {
            remote = ia.getHostString() + ":" + ia.getPort();
        }
        super.channelActive(ctx);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof SslHandshakeCompletionEvent done) {
            if (done.isSuccess()) {
                handshakeDone(ctx);
            } else {
                tlsFailed(done.cause());
                ctx.close();
            }
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    private void handshakeDone(ChannelHandlerContext ctx) {
        tlsDone = true;
        String fingerprint;
        try {
            Certificate[] certs = ctx.pipeline().get(SslHandler.class).engine().getSession().getPeerCertificates();
            fingerprint = Fingerprints.of((X509Certificate) certs[0]);
        } catch (SSLPeerUnverifiedException | RuntimeException e) {
            close("TLS session with " + remote + " has no usable peer certificate: " + e.getMessage(), true);
            return;
        }
        // Checked again here because a resumed TLS session skips the trust manager: this site's
        // dialler never resumes one, but a peer's might offer one.
        if (dialedFor != null) {
            if (!fingerprint.equals(dialedFor.fingerprint())) {
                String m = "refused connection to peer " + dialedFor.peer() + " at " + remote + ": its certificate "
                        + fingerprint + " is not the one pinned for it (" + dialedFor.fingerprint() + ")";
                LOG.warn(m);
                close(m, true);
                return;
            }
        } else {
            Link l = transport.linkByFingerprint(fingerprint);
            if (l == null) {
                // A resumed session from before the peer was removed, or a removal during the
                // handshake (a full handshake is refused by the trust manager already).
                String m = "refused connection from " + remote + ": certificate " + fingerprint
                        + " belongs to no known peer";
                LOG.warn(m);
                closeTelling(m, true, refusedCertificate(fingerprint));
                return;
            }
            link = l;
        }
        Link l = link;
        Hello hello = new Hello(transport.protocolVersion(), transport.siteId(), transport.siteName(),
                l.fingerprint(), l.hasAddress());
        write(Wire.HELLO, 0, 0, hello.encode());
        long timeout = transport.config().connectTimeoutMillis();
        helloTimeout = ctx.executor().schedule(() -> {
            if (!helloDone) {
                close("no HELLO from peer " + peerName() + " at " + remote + " within " + timeout + " ms", false);
            }
        }, timeout, TimeUnit.MILLISECONDS);
    }

    /** What a refused peer is told (it logs it and shows it in doppel:peer-list). */
    private String refusedCertificate(String fingerprint) {
        return "site " + transport.siteId() + " refused this site's certificate " + fingerprint
                + ": it belongs to no peer known there (add this site there with doppel:peer-add)";
    }

    /** The handshake failed; reported by the exception and again by the handshake event: the first wins. */
    private void tlsFailed(Throwable cause) {
        if (reason != null) {
            return;
        }
        Throwable c = cause;
        while (c != null) {
            if (c instanceof RefusedCertificateException) {
                // logged by the trust manager
                refuse(c.getMessage());
                return;
            }
            c = c.getCause();
        }
        if (dialedFor != null && refusedOurCertificate(cause)) {
            refuse("peer " + dialedFor.peer() + " at " + remote + " refused this site's certificate ("
                    + transport.fingerprint() + "): add this site there with doppel:peer-add");
            return;
        }
        String m = "TLS handshake with " + (dialedFor != null ? "peer " + dialedFor.peer() + " at " : "") + remote
                + " failed: " + sslMessage(cause);
        if (dialedFor == null) {
            LOG.warn(m);
        }
        reason = m;
    }

    /** TLS 1.3 lets the client finish before the server checked its certificate: the refusal arrives as an alert. */
    private static boolean refusedOurCertificate(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            String m = String.valueOf(c.getMessage());
            if (c instanceof SSLException && (m.contains("certificate_unknown") || m.contains("bad_certificate")
                    || m.contains("certificate_required") || m.contains("access_denied"))) {
                return true;
            }
        }
        return false;
    }

    private void refuse(String message) {
        if (reason == null) {
            reason = message;
            refused = true;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Truncated t) {
            if (!closed && reason == null) {
                String m = "connection " + (dialedByUs() ? "to" : "from") + " peer " + peerName() + " at " + remote
                        + " broke: " + t.message();
                LOG.error(m);
                reason = m;
            }
            return;
        }
        if (!(msg instanceof WireFrame f)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (closed || reason != null) {
            return;
        }
        if (!helloDone) {
            if (f.type() == Wire.CLOSE) {
                peerClosed(f);
            } else if (f.type() != Wire.HELLO || link == null) {
                close("protocol error: peer " + peerName() + " at " + remote + " sent frame type " + f.type()
                        + " before HELLO", false);
            } else {
                hello(f);
            }
            return;
        }
        switch (f.type()) {
            case Wire.PING -> write(Wire.PONG, 0, 0, f.payload());
            case Wire.PONG -> {
                if (f.length() == 8) {
                    link.rtt((System.nanoTime() - f.payload().getLong(f.payload().position())) / 1000);
                }
            }
            case Wire.CLOSE -> peerClosed(f);
            default -> {
                if (f.is(Wire.FLAG_REPLY)) {
                    reply(f);
                } else if (f.type() >= Frame.FIRST_SERVICE_TYPE) {
                    dispatch(f);
                } else {
                    String m = "protocol error: peer " + peerName() + " at " + remote
                            + " sent unknown transport frame type " + f.type();
                    closeTelling(m, false, m);
                }
            }
        }
    }

    private void hello(WireFrame f) {
        Link l = link;
        int theirs;
        Hello hello;
        try {
            theirs = Hello.version(f.payload());
            int ours = transport.protocolVersion();
            if (theirs != ours) {
                String m = "refused peer " + l.peer() + " at " + remote + ": it speaks transport protocol version "
                        + theirs + "; this site speaks version " + ours;
                LOG.error(m);
                closeTelling(m, true, "site " + transport.siteId() + " refused the connection: it speaks transport"
                        + " protocol version " + ours + "; you speak version " + theirs);
                return;
            }
            hello = Hello.decode(f.payload());
        } catch (IllegalArgumentException e) {
            close("protocol error: bad HELLO from peer " + l.peer() + " at " + remote + ": " + e.getMessage(), false);
            return;
        }
        if (!hello.expectedFingerprint().equals(transport.fingerprint())) {
            String m = "refused peer " + l.peer() + " at " + remote + ": it expected this site's certificate to be "
                    + hello.expectedFingerprint() + ", but it is " + transport.fingerprint();
            LOG.warn(m);
            closeTelling(m, true, "site " + transport.siteId() + " refused the connection: you expected certificate "
                    + hello.expectedFingerprint() + ", this site has " + transport.fingerprint());
            return;
        }
        helloDone = true;
        if (helloTimeout != null) {
            helloTimeout.cancel(false);
        }
        l.learned(hello);
        String duplicate = l.attach(this);
        if (duplicate != null) {
            closeTelling(duplicate, false, duplicate);
            return;
        }
        attached = true;
        long every = transport.config().heartbeatMillis();
        heartbeat = channel.eventLoop().scheduleAtFixedRate(this::tick, every, every, TimeUnit.MILLISECONDS);
    }

    private void peerClosed(WireFrame f) {
        String why = Wire.string(f.payload());
        String m = "peer " + peerName() + " at " + remote + " closed the connection: " + why;
        if (f.is(Wire.FLAG_ERROR)) {
            LOG.warn(m);
        } else {
            LOG.info(m);
        }
        if (reason == null) {
            reason = m;
            refused = f.is(Wire.FLAG_ERROR);
        }
        channel.close();
    }

    /** Every heartbeatMillis: declares the peer dead after deadAfterMillis of silence, else pings it. */
    private void tick() {
        if (closed) {
            return;
        }
        long silentMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - traffic.lastReadNanos);
        long deadAfter = transport.config().deadAfterMillis();
        if (silentMillis >= deadAfter) {
            String m = "no frame from peer " + peerName() + " at " + remote + " for " + silentMillis
                    + " ms (deadAfterMillis " + deadAfter + ")";
            LOG.warn("Closing link: {}", m);
            close(m, false);
            return;
        }
        write(Wire.PING, 0, 0, ByteBuffer.allocate(8).putLong(0, System.nanoTime()));
        expireRequests();
    }

    private void expireRequests() {
        if (pending.isEmpty()) {
            return;
        }
        long now = System.nanoTime();
        for (Map.Entry<Long, Pending> e : pending.entrySet()) {
            Pending p = e.getValue();
            if (now - p.deadlineNanos >= 0 && pending.remove(e.getKey(), p)) {
                p.future.completeExceptionally(new TimeoutException("no reply from peer " + peerName()
                        + " to a request of frame type " + p.type + " within " + p.timeoutMillis + " ms"));
            }
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
        Link l = link;
        if (l != null && attached) {
            l.writabilityChanged();
        }
        super.channelWritabilityChanged(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof FrameException) {
            String m = "closing link to peer " + peerName() + " at " + remote + ": " + cause.getMessage();
            if (!closed && reason == null) {
                LOG.error(m);
            }
            close(m, false);
            return;
        }
        // the TLS layer reports through its decoder: the SSLException comes wrapped
        SSLException ssl = sslCause(cause);
        if (!helloDone && ssl != null) {
            tlsFailed(cause);
        } else if (reason == null && !closed) {
            if (ssl != null) {
                String m = "closing link to peer " + peerName() + " at " + remote + ": TLS error: " + sslMessage(ssl);
                LOG.warn(m);
                reason = m;
            } else {
                Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
                String m = "connection to peer " + peerName() + " at " + remote + " failed: " + message(c);
                if (c instanceof IOException) {
                    LOG.debug(m, c);
                } else {
                    LOG.warn(m, c);
                }
                reason = m;
            }
        }
        ctx.close();
    }

    private static SSLException sslCause(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (c instanceof SSLException s) {
                return s;
            }
        }
        return null;
    }

    /** The TLS error's own message, without the exception class names wrapped around it. */
    private static String sslMessage(Throwable cause) {
        SSLException s = sslCause(cause);
        if (s == null && cause instanceof ClosedChannelException) {
            return "the connection was closed during the handshake (is a Doppel transport listening there?)";
        }
        Throwable c = s != null ? s : cause;
        return c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        closed = true;
        if (helloTimeout != null) {
            helloTimeout.cancel(false);
        }
        if (heartbeat != null) {
            heartbeat.cancel(false);
        }
        String why = reason != null ? reason : "connection to peer " + peerName() + " at " + remote + " closed";
        failPending(why);
        Link l = link;
        if (l != null) {
            l.detached(this, why, refused);
        } else if (dialedFor == null) {
            LOG.debug("Connection from {} closed before it was identified: {}", remote, why);
        }
        super.channelInactive(ctx);
    }

    private void failPending(String why) {
        List<Pending> failed = new ArrayList<>();
        for (Long id : new ArrayList<>(pending.keySet())) {
            Pending p = pending.remove(id);
            if (p != null) {
                failed.add(p);
            }
        }
        for (Pending p : failed) {
            p.future.completeExceptionally(new PeerUnavailableException("link to peer " + peerName() + " lost: " + why));
        }
    }

    /**
     * Closes the connection, remembering why.
     *
     * @param refusal whether it is a refusal (shown as state "refused")
     */
    void close(String why, boolean refusal) {
        if (reason == null) {
            reason = why;
            refused = refusal;
        }
        Channel ch = channel;
        if (ch != null) {
            ch.close();
        }
    }

    /** Sends the peer a CLOSE frame saying why (a refusal when {@code refusal}), then closes. */
    void closeTelling(String why, boolean refusal, String toPeer) {
        if (reason == null) {
            reason = why;
            refused = refusal;
        }
        Channel ch = channel;
        if (ch == null) {
            return;
        }
        if (closed || !tlsDone) {
            ch.close();
            return;
        }
        write(Wire.CLOSE, refusal ? Wire.FLAG_ERROR : 0, 0, Wire.utf8(toPeer)).addListener(ChannelFutureListener.CLOSE);
    }

    // ---- inbound service frames and replies ----------------------------------------------

    private void dispatch(WireFrame f) {
        int type = f.type();
        boolean wantsReply = f.is(Wire.FLAG_REQUEST);
        FrameHandler handler = transport.handlers().find(type);
        if (handler == null) {
            if (wantsReply) {
                errorReply(type, f.id(), "no handler for frame type " + type);
            } else {
                LOG.warn("Dropped a frame of type {} from peer {}: no handler for frame type {}", type, peerName(),
                        type);
            }
            return;
        }
        CompletionStage<Frame> stage;
        try {
            stage = handler.handle(link.peer(), new Frame(type, f.payload()));
        } catch (RuntimeException e) {
            stage = CompletableFuture.failedFuture(e);
        }
        if (!wantsReply) {
            if (stage != null) {
                stage.whenComplete((r, e) -> {
                    if (e != null) {
                        LOG.warn("Handler of frame type {} failed a frame from peer {}: {}", type, peerName(),
                                message(e));
                    }
                });
            }
            return;
        }
        if (stage == null) {
            errorReply(type, f.id(), "the handler of frame type " + type + " returned no reply");
            return;
        }
        long id = f.id();
        stage.whenComplete((reply, e) -> {
            if (e != null) {
                errorReply(type, id, message(e));
            } else if (reply == null) {
                errorReply(type, id, "the handler of frame type " + type + " replied with nothing");
            } else if (reply.type() < 0 || reply.type() > Wire.MAX_TYPE) {
                errorReply(type, id, "the handler of frame type " + type + " replied with frame type "
                        + reply.type() + ", outside 0.." + Wire.MAX_TYPE);
            } else if (reply.payload().remaining() > transport.config().maxPayloadBytes()) {
                errorReply(type, id, "the reply of " + reply.payload().remaining() + " bytes exceeds maxPayloadBytes "
                        + transport.config().maxPayloadBytes());
            } else {
                write(reply.type(), Wire.FLAG_REPLY, id, reply.payload());
            }
        });
    }

    private void errorReply(int type, long id, String message) {
        write(type, Wire.FLAG_REPLY | Wire.FLAG_ERROR, id, Wire.utf8(message));
    }

    static String message(Throwable e) {
        Throwable c = e;
        while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.getClass().getName();
    }

    private void reply(WireFrame f) {
        Pending p = pending.remove(f.id());
        if (p == null) {
            LOG.debug("Reply {} from peer {} matches no outstanding request (timed out?)", f.id(), peerName());
            return;
        }
        if (f.is(Wire.FLAG_ERROR)) {
            p.future.completeExceptionally(new RemoteException(Wire.string(f.payload())));
        } else {
            p.future.complete(new Frame(f.type(), f.payload()));
        }
    }

    // ---- outbound (any thread) ----------------------------------------------------------

    CompletableFuture<Frame> request(Frame frame, long timeoutMillis) {
        CompletableFuture<Frame> future = new CompletableFuture<>();
        long id = nextId.getAndIncrement();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        Pending p = new Pending(frame.type(), deadline, timeoutMillis, future);
        pending.put(id, p);
        if (closed) {
            // closed while registering: failPending may have run before the put
            if (pending.remove(id, p)) {
                future.completeExceptionally(unavailable());
            }
            return future;
        }
        write(frame.type(), Wire.FLAG_REQUEST, id, frame.payload()).addListener(w -> {
            if (!w.isSuccess() && pending.remove(id, p)) {
                future.completeExceptionally(new PeerUnavailableException("cannot send to peer " + peerName() + ": "
                        + w.cause().getMessage(), w.cause()));
            }
        });
        return future;
    }

    void send(Frame frame) throws PeerUnavailableException {
        if (closed) {
            throw unavailable();
        }
        write(frame.type(), 0, 0, frame.payload());
    }

    private PeerUnavailableException unavailable() {
        String why = reason;
        return new PeerUnavailableException("link to peer " + peerName() + " lost"
                + (why == null ? "" : ": " + why));
    }

    private ChannelFuture write(int type, int flags, long id, ByteBuffer payload) {
        Channel ch = channel;
        ByteBuf buf = Wire.encode(ch.alloc(), type, flags, id, payload);
        if (corruptNextOfType.get() == type && corruptNextOfType.compareAndSet(type, -1)) {
            int at = buf.readableBytes() > Wire.HEADER_BYTES ? Wire.HEADER_BYTES : 10;
            buf.setByte(at, buf.getByte(at) ^ 0x40);
        }
        return ch.writeAndFlush(buf);
    }

    /** Bytes written to this connection and not yet taken by the socket. */
    long queuedBytes() {
        Channel ch = channel;
        if (ch == null || ch.unsafe().outboundBuffer() == null) {
            return 0;
        }
        return ch.unsafe().outboundBuffer().totalPendingWriteBytes();
    }

    boolean isWritable() {
        Channel ch = channel;
        return ch != null && ch.isWritable() && !closed;
    }
}
