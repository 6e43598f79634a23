package io.doppel.transport.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import io.doppel.api.site.SiteIdentity;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerListener;
import io.doppel.storage.internal.FileStorage;

/** One transport in a temp directory on an ephemeral port, with a recording handler and listener. */
final class TestSite implements AutoCloseable {

    /** An echo handler for type 100 that records what it got. */
    static final int ECHO = 100;

    record Received(String peer, int type, ByteBuffer payload) {
    }

    record Site(String id, String name, Path home, Instant created) implements SiteIdentity {
    }

    final String label;
    final Path dir;
    TransportConfig config;
    final FrameHandlers handlers = new FrameHandlers();
    final List<PeerListener> listeners = new CopyOnWriteArrayList<>();
    final List<PeerInfo> events = new CopyOnWriteArrayList<>();
    final List<Received> received = new CopyOnWriteArrayList<>();
    volatile SiteIdentity identity;
    TransportService service;

    TestSite(String label, Path dir) {
        this(label, dir, fastConfig(dir));
    }

    TestSite(String label, Path dir, TransportConfig config) {
        this.label = label;
        this.dir = dir;
        this.config = config;
        this.identity = new Site("site-" + label, label, dir, Instant.now());
        listeners.add(events::add);
        handlers.add((peer, frame) -> {
            received.add(new Received(peer, frame.type(), frame.payload()));
            return CompletableFuture.completedFuture(new Frame(ECHO, frame.payload()));
        }, ECHO);
    }

    static TransportConfig fastConfig(Path dir) {
        return TransportConfig.DEFAULTS.withDirectory(dir).withPort(0).withTimes(100, 1000, 300, 5000);
    }

    TestSite start() throws IOException {
        service = new TransportService(config, new FileStorage(), () -> identity, handlers, listeners);
        service.start();
        return this;
    }

    /** Stops and starts again on the same port and directory. */
    TestSite restart() throws IOException {
        int port = service.port();
        service.close();
        config = config.withPort(port);
        return start();
    }

    String fingerprint() {
        return service.fingerprint();
    }

    String address() {
        return service.listenAddress();
    }

    /** Trusts {@code other} under its label, with its address when {@code dial}. */
    void add(TestSite other, boolean dial) {
        service.addPeer(other.label, dial ? other.address() : "", other.fingerprint());
    }

    Link link(String peer) {
        return (Link) service.link(peer);
    }

    PeerInfo info(String peer) {
        return service.peer(peer).orElseThrow();
    }

    boolean connected(String peer) {
        return service.peer(peer).map(PeerInfo::connected).orElse(false);
    }

    long receivedFrom(String peer) {
        return received.stream().filter(r -> r.peer().equals(peer)).count();
    }

    @Override
    public void close() {
        if (service != null) {
            service.close();
        }
    }

    static ByteBuffer bytes(String s) {
        return Wire.utf8(s);
    }
}
