package io.doppel.api.transport;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The link to one peer. Frames sent on a link arrive in the order they were sent, and
 * requests may be pipelined: many may be outstanding, and their replies complete the
 * returned futures (in any order). A link reconnects by itself with backoff; while it is
 * down, sends fail at once with {@link PeerUnavailableException} and outstanding requests
 * fail with it too.
 */
@ProviderType
public interface PeerLink {

    String peer();

    PeerInfo info();

    boolean isConnected();

    /**
     * Sends a request; the future completes with the handler's reply frame, or exceptionally
     * with {@link PeerUnavailableException} (link lost), {@link RemoteException} (the peer's
     * handler failed; carries its message) or a timeout.
     */
    CompletableFuture<Frame> request(Frame frame);

    /**
     * As {@link #request(Frame)}, but the reply may take up to {@code timeoutMillis} instead of
     * the transport's request timeout: for requests whose handler works long by design.
     */
    CompletableFuture<Frame> request(Frame frame, long timeoutMillis);

    /** Sends a frame that gets no reply. */
    void send(Frame frame) throws IOException;

    /**
     * Bytes queued on this link and not yet written to the socket. Senders keep it bounded
     * (backpressure); {@link #awaitWritable} waits until it drops below the link's limit.
     */
    long queuedBytes();

    /** Waits up to {@code timeoutMillis} until the link can take more frames; false if it could not. */
    boolean awaitWritable(long timeoutMillis) throws InterruptedException;
}
