package io.doppel.transport.internal;

import java.io.IOException;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.PeerUnavailableException;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslContext;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The link to one peer: at most one attached {@link Connection}, the dialling loop with its
 * backoff, the state shown in {@link PeerInfo}, and the byte counters of every connection
 * the link had.
 *
 * <p>Who dials: a site dials a peer it has an address for, unless both have each other's
 * address, in which case only the site whose fingerprint sorts lower dials (the other learns
 * that from the lower one's HELLO and stops). When two connections meet anyway, both sites
 * keep the one dialled by the lower fingerprint; of two dialled the same way, the newer.
 */
final class Link implements PeerLink {

    private static final Logger LOG = LoggerFactory.getLogger(Link.class);

    static final String CONNECTED = "connected";
    static final String CONNECTING = "connecting";
    static final String DISCONNECTED = "disconnected";
    static final String REFUSED = "refused";

    private final TransportService transport;
    private final String name;
    private final SslContext clientSsl;
    private volatile PeerEntry entry;
    private volatile Connection current;
    private volatile long rttMicros = -1;

    // guarded by this
    private String state = DISCONNECTED;
    private String detail = "";
    private Instant since = Instant.now();
    private boolean dialing;
    private boolean removed;
    private boolean peerDials;
    private long nextBackoffMillis = TransportConfig.MIN_BACKOFF_MILLIS;
    private Channel dialChannel;
    private io.netty.util.concurrent.Future<?> retry;
    private long closedSent;
    private long closedReceived;
    private String lastLogged;

    Link(TransportService transport, PeerEntry entry, SslContext clientSsl) {
        this.transport = transport;
        this.name = entry.name();
        this.entry = entry;
        this.clientSsl = clientSsl;
    }

    @Override
    public String peer() {
        return name;
    }

    String fingerprint() {
        return entry.fingerprint();
    }

    PeerEntry entry() {
        return entry;
    }

    SslContext clientSsl() {
        return clientSsl;
    }

    boolean hasAddress() {
        return !entry.address().isEmpty();
    }

    /** Test hook: the attached connection, or null. */
    Connection connection() {
        return current;
    }

    // ---- dialling -----------------------------------------------------------------------

    synchronized void start() {
        if (shouldDial()) {
            setState(CONNECTING, "dialling " + entry.address());
            dialLater(0);
        } else {
            setState(DISCONNECTED, waitingDetail());
        }
    }

    /** Whether this site dials the peer (see the class comment). */
    private boolean shouldDial() {
        return !removed && hasAddress() && (transport.fingerprint().compareTo(entry.fingerprint()) < 0 || !peerDials);
    }

    private String waitingDetail() {
        return hasAddress() ? "waiting for " + name + " to dial this site (its fingerprint sorts lower)"
                : "no address for " + name + ": waiting for it to dial this site";
    }

    private void dialLater(long delayMillis) {
        if (removed || current != null || dialing || !shouldDial() || transport.isClosed()) {
            return;
        }
        dialing = true;
        try {
            retry = transport.group().schedule(this::dial, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            dialing = false; // the event loops are shutting down
        }
    }

    private long nextBackoff() {
        long d = nextBackoffMillis;
        nextBackoffMillis = Math.min(d * 2, transport.config().maxBackoffMillis());
        return d;
    }

    private void dial() {
        synchronized (this) {
            if (removed || current != null || transport.isClosed()) {
                dialing = false;
                return;
            }
            if (!REFUSED.equals(state)) {
                setState(CONNECTING, detail.isEmpty() ? "dialling " + entry.address() : detail);
            }
        }
        transport.dial(this).whenComplete((ch, e) -> {
            synchronized (this) {
                if (e != null) {
                    dialFailed("cannot connect to " + entry.address() + ": " + Connection.message(e), false);
                } else {
                    dialChannel = ch;
                    if (removed) {
                        ch.close();
                    }
                }
            }
        });
    }

    /** A dial attempt ended without a connection: try again after the backoff. */
    private synchronized void dialFailed(String why, boolean refusal) {
        dialing = false;
        dialChannel = null;
        if (current == null && !removed) {
            setState(refusal ? REFUSED : CONNECTING, why);
            logChange(why);
            dialLater(nextBackoff());
        }
    }

    private void logChange(String why) {
        if (!why.equals(lastLogged)) {
            lastLogged = why;
            LOG.warn("Link to peer {}: {}", name, why);
        }
    }

    // ---- connections --------------------------------------------------------------------

    /** The HELLO of a connection told the peer's site id and whether it dials this site. */
    void learned(Hello hello) {
        synchronized (this) {
            peerDials = hello.dials();
        }
        PeerEntry e = entry;
        if (!hello.siteId().equals(e.siteId())) {
            if (!e.siteId().isEmpty()) {
                LOG.warn("Peer {} now reports site id {} (it was {}); its certificate is unchanged", name,
                        hello.siteId(), e.siteId());
            }
            entry = e.withSiteId(hello.siteId());
            transport.persistSiteId(name, hello.siteId());
        }
    }

    /**
     * Makes {@code c} the link's connection.
     *
     * @return null when attached, else why it is refused as a duplicate
     */
    String attach(Connection c) {
        Connection old;
        boolean wasUp;
        synchronized (this) {
            if (removed) {
                return "peer " + name + " was removed";
            }
            old = current;
            if (old != null && !dialledByLower(c) && dialledByLower(old)) {
                return "duplicate connection: site " + transport.siteId() + " keeps the one dialled by the site"
                        + " whose fingerprint sorts lower";
            }
            wasUp = old != null;
            current = c;
            if (c.dialedByUs()) {
                dialing = false;
                dialChannel = null;
            }
            nextBackoffMillis = TransportConfig.MIN_BACKOFF_MILLIS;
            lastLogged = null;
            setState(CONNECTED, "");
            notifyAll();
        }
        if (old != null) {
            old.close("replaced by a newer connection from " + c.remote(), false);
        }
        LOG.info("Link to peer {} (site {}) up: {} {}", name, entry.siteId(),
                c.dialedByUs() ? "dialled" : "accepted from", c.remote());
        if (!wasUp) {
            transport.notifyListeners(info());
        }
        return null;
    }

    private boolean dialledByLower(Connection c) {
        boolean weAreLower = transport.fingerprint().compareTo(entry.fingerprint()) < 0;
        return c.dialedByUs() == weAreLower;
    }

    /** A connection of this link closed (attached, replaced, or never attached). */
    void detached(Connection c, String why, boolean refusal) {
        boolean down = false;
        synchronized (this) {
            closedSent += c.traffic().sent.get();
            closedReceived += c.traffic().received.get();
            if (c == current) {
                current = null;
                down = true;
                if (!removed) {
                    setState(refusal ? REFUSED : shouldDial() ? CONNECTING : DISCONNECTED,
                            shouldDial() || refusal ? why : why + "; " + waitingDetail());
                    LOG.warn("Link to peer {} down: {}", name, why);
                    lastLogged = why;
                    dialLater(nextBackoff());
                }
                notifyAll();
            } else if (c.dialedByUs() && !c.wasAttached()) {
                dialFailed(why, refusal);
            } else if (!c.wasAttached() && current == null && !removed) {
                // an accepted connection that failed before it was attached
                setState(refusal ? REFUSED : state, why);
                if (refusal) {
                    lastLogged = why;
                }
            }
        }
        if (down) {
            transport.notifyListeners(info());
        }
    }

    /** The delay before the next redial (tests). */
    synchronized long backoffMillis() {
        return nextBackoffMillis;
    }

    void rtt(long micros) {
        rttMicros = micros;
    }

    synchronized void writabilityChanged() {
        notifyAll();
    }

    /**
     * Closes the link for good (peer removed, transport stopped).
     *
     * @param why     the state detail here
     * @param toPeer  what the peer is told
     * @param refusal whether the peer is told that this site refuses it (it was removed)
     */
    void shutdown(String why, String toPeer, boolean refusal) {
        Connection c;
        Channel dialling;
        synchronized (this) {
            removed = true;
            if (retry != null) {
                retry.cancel(false);
            }
            dialling = dialChannel;
            c = current;
            current = null;
            setState(DISCONNECTED, why);
            notifyAll();
        }
        if (dialling != null) {
            dialling.close();
        }
        if (c != null) {
            c.closeTelling(why, refusal, toPeer);
        }
    }

    /** Closes the attached connection's channel (the link then redials); for shutdown waits. */
    Channel channel() {
        Connection c = current;
        return c == null ? null : c.channel();
    }

    private void setState(String newState, String newDetail) {
        if (!newState.equals(state)) {
            since = Instant.now();
        }
        state = newState;
        detail = newDetail;
    }

    // ---- PeerLink -----------------------------------------------------------------------

    @Override
    public PeerInfo info() {
        Connection c = current;
        synchronized (this) {
            long sent = closedSent;
            long received = closedReceived;
            if (c != null && c == current) {
                sent += c.traffic().sent.get();
                received += c.traffic().received.get();
            }
            PeerEntry e = entry;
            return new PeerInfo(name, e.address(), e.fingerprint(), e.siteId(), state, detail, since,
                    CONNECTED.equals(state) ? rttMicros : -1, sent, received);
        }
    }

    @Override
    public boolean isConnected() {
        return current != null;
    }

    @Override
    public CompletableFuture<Frame> request(Frame frame) {
        return request(frame, transport.config().requestTimeoutMillis());
    }

    @Override
    public CompletableFuture<Frame> request(Frame frame, long timeoutMillis) {
        check(frame);
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("a request timeout must be positive: " + timeoutMillis + " ms");
        }
        Connection c = current;
        if (c == null) {
            return CompletableFuture.failedFuture(unavailable());
        }
        return c.request(frame, timeoutMillis);
    }

    @Override
    public void send(Frame frame) throws IOException {
        check(frame);
        Connection c = current;
        if (c == null) {
            throw unavailable();
        }
        c.send(frame);
    }

    private void check(Frame frame) {
        if (frame.type() < Frame.FIRST_SERVICE_TYPE || frame.type() > Wire.MAX_TYPE) {
            throw new IllegalArgumentException("frame type " + frame.type() + " is not a service frame type: use "
                    + Frame.FIRST_SERVICE_TYPE + ".." + Wire.MAX_TYPE);
        }
        long max = transport.config().maxPayloadBytes();
        if (frame.payload().remaining() > max) {
            throw new IllegalArgumentException("frame payload of " + frame.payload().remaining()
                    + " bytes exceeds maxPayloadBytes " + max);
        }
    }

    private PeerUnavailableException unavailable() {
        PeerInfo i = info();
        return new PeerUnavailableException("peer " + name + " is not connected (" + i.state()
                + (i.detail().isEmpty() ? "" : ": " + i.detail()) + ")");
    }

    @Override
    public long queuedBytes() {
        Connection c = current;
        return c == null ? 0 : c.queuedBytes();
    }

    @Override
    public boolean awaitWritable(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, timeoutMillis));
        synchronized (this) {
            while (true) {
                Connection c = current;
                if (c != null && c.isWritable()) {
                    return true;
                }
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                // bounded wait: writability is also re-read after a missed notification
                wait(Math.min(left, 50));
            }
        }
    }
}
