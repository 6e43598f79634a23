package io.doppel.transport.internal;

import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import io.doppel.api.site.SiteIdentity;
import io.doppel.api.storage.Storage;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.FrameHandler;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.PeerListener;
import io.doppel.api.transport.PeerUnavailableException;
import io.doppel.api.transport.Transport;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transport component: runs a {@link TransportService} with the configuration of PID
 * {@code io.doppel.transport}, with the frame handlers and peer listeners of the whiteboard.
 *
 * <p>References are bound before an activate method runs but after a constructor, and the
 * site identity (optional, from the engine) must be seen at activation to name a new
 * certificate: hence field and method injection here rather than an activate constructor.
 */
@Component(service = {Transport.class, TransportAdmin.class}, configurationPid = TransportConfig.PID,
        immediate = true)
@Designate(ocd = TransportComponent.Config.class)
public final class TransportComponent implements TransportAdmin {

    private static final Logger LOG = LoggerFactory.getLogger(TransportComponent.class);

    @ObjectClassDefinition(name = "Doppel transport",
            description = "Site-to-site links: TLS 1.3 with pinned certificates, framing, heartbeats.")
    public @interface Config {
        @AttributeDefinition(description = "Holds this site's key and certificate (site.pem) and the peer registry")
        String directory() default "${karaf.base}/doppel/tls";

        @AttributeDefinition(description = "Address to listen on for peers")
        String address() default "127.0.0.1";

        @AttributeDefinition(description = "TCP port peers dial", min = "0", max = "65535")
        int port() default 10810;

        @AttributeDefinition(description = "A heartbeat goes both ways this often (ms)", min = "10", max = "60000")
        long heartbeatMillis() default 1000;

        @AttributeDefinition(description = "A link that received nothing for this long (ms) is closed and redialled;"
                + " at least twice heartbeatMillis", min = "20", max = "3600000")
        long deadAfterMillis() default 5000;

        @AttributeDefinition(description = "TCP connect, TLS handshake and HELLO must each finish within this (ms)",
                min = "100", max = "600000")
        long connectTimeoutMillis() default 3000;

        @AttributeDefinition(description = "Redial delays double from 100 ms up to this (ms)", min = "100",
                max = "3600000")
        long maxBackoffMillis() default 5000;

        @AttributeDefinition(description = "A request without a reply fails after this (ms)", min = "1",
                max = "86400000")
        long requestTimeoutMillis() default 30000;

        @AttributeDefinition(description = "Bytes queued on a link before senders must wait (like 64M)")
        String maxQueuedBytes() default "64M";

        @AttributeDefinition(description = "Largest frame payload sent or accepted (like 64M)")
        String maxPayloadBytes() default "64M";
    }

    @Reference(name = "storage")
    private Storage storage;

    @Reference(name = "site", cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    private volatile SiteIdentity site;

    private final FrameHandlers handlers = new FrameHandlers();
    private final List<PeerListener> listeners = new CopyOnWriteArrayList<>();
    private TransportConfig config;
    private volatile TransportService service;

    @Activate
    void activate(Map<String, Object> properties) throws IOException {
        config = TransportConfig.from(properties, null);
        service = start(config);
    }

    @Modified
    void modified(Map<String, Object> properties) throws IOException {
        TransportConfig next = TransportConfig.from(properties, config);
        if (next.equals(config)) {
            return;
        }
        LOG.info("Transport configuration changed: restarting it, links reconnect");
        TransportService old = service;
        service = null;
        if (old != null) {
            old.close();
        }
        config = next;
        service = start(next);
    }

    @Deactivate
    void deactivate() {
        TransportService s = service;
        service = null;
        if (s != null) {
            s.close();
        }
    }

    private TransportService start(TransportConfig c) throws IOException {
        TransportService s = new TransportService(c, storage, () -> site, handlers, listeners);
        try {
            s.start();
        } catch (IOException | RuntimeException e) {
            LOG.error("Cannot start the transport: {}", e.getMessage(), e);
            s.close();
            throw e;
        }
        return s;
    }

    @Reference(name = "handlers", cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            unbind = "removeHandler")
    void addHandler(FrameHandler handler, Map<String, Object> properties) {
        handlers.add(handler, properties);
    }

    void removeHandler(FrameHandler handler) {
        handlers.remove(handler);
    }

    @Reference(name = "listeners", cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            unbind = "removeListener")
    void addListener(PeerListener listener) {
        listeners.add(listener);
    }

    void removeListener(PeerListener listener) {
        listeners.remove(listener);
    }

    private TransportService running() {
        TransportService s = service;
        if (s == null) {
            throw new IllegalStateException("the transport is not running (see the log)");
        }
        return s;
    }

    @Override
    public LocalSite localSite() {
        return running().localSite();
    }

    @Override
    public String fingerprint() {
        return running().fingerprint();
    }

    @Override
    public String listenAddress() {
        return running().listenAddress();
    }

    @Override
    public List<PeerInfo> peers() {
        return running().peers();
    }

    @Override
    public Optional<PeerInfo> peer(String name) {
        return running().peer(name);
    }

    @Override
    public PeerInfo addPeer(String name, String address, String fingerprint) {
        return running().addPeer(name, address, fingerprint);
    }

    @Override
    public void removePeer(String name) {
        running().removePeer(name);
    }

    @Override
    public PeerLink link(String peer) {
        running().link(peer);
        return new StableLink(peer);
    }

    /**
     * A link that outlives a restart of the service (configuration change): each call goes to
     * the link of the service running then.
     */
    private final class StableLink implements PeerLink {
        private final String peer;

        StableLink(String peer) {
            this.peer = peer;
        }

        private PeerLink target() throws PeerUnavailableException {
            TransportService s = service;
            if (s == null) {
                throw new PeerUnavailableException("peer " + peer + " is not connected: the transport is not running");
            }
            try {
                return s.link(peer);
            } catch (IllegalArgumentException e) {
                throw new PeerUnavailableException("peer " + peer + " is not connected: it was removed");
            }
        }

        @Override
        public String peer() {
            return peer;
        }

        @Override
        public PeerInfo info() {
            TransportService s = service;
            Optional<PeerInfo> info = s == null ? Optional.empty() : s.peer(peer);
            return info.orElseGet(() -> new PeerInfo(peer, "", "", "", Link.DISCONNECTED,
                    s == null ? "the transport is not running" : "removed", Instant.now(), -1, 0, 0));
        }

        @Override
        public boolean isConnected() {
            try {
                return target().isConnected();
            } catch (PeerUnavailableException e) {
                return false;
            }
        }

        @Override
        public CompletableFuture<Frame> request(Frame frame) {
            try {
                return target().request(frame);
            } catch (PeerUnavailableException e) {
                return CompletableFuture.failedFuture(e);
            }
        }

        @Override
        public CompletableFuture<Frame> request(Frame frame, long timeoutMillis) {
            try {
                return target().request(frame, timeoutMillis);
            } catch (PeerUnavailableException e) {
                return CompletableFuture.failedFuture(e);
            }
        }

        @Override
        public void send(Frame frame) throws IOException {
            target().send(frame);
        }

        @Override
        public long queuedBytes() {
            try {
                return target().queuedBytes();
            } catch (PeerUnavailableException e) {
                return 0;
            }
        }

        @Override
        public boolean awaitWritable(long timeoutMillis) throws InterruptedException {
            try {
                return target().awaitWritable(timeoutMillis);
            } catch (PeerUnavailableException e) {
                return false;
            }
        }
    }
}
