package io.doppel.transport.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import javax.net.ssl.SSLException;

import io.doppel.api.site.SiteIdentity;
import io.doppel.api.storage.Storage;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.PeerListener;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ImmediateEventExecutor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transport without OSGi: the site certificate, the peer registry, the listening socket
 * and one {@link Link} per peer. {@link TransportComponent} wraps it as a component.
 */
public final class TransportService implements TransportAdmin, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TransportService.class);

    private static final long CLOSE_WAIT_MILLIS = 2000;
    static final String TLS_PROTOCOL = "TLSv1.3";

    private final TransportConfig config;
    private final Storage storage;
    private final Supplier<SiteIdentity> site;
    private final FrameHandlers handlers;
    private final Collection<PeerListener> listeners;
    private final Map<String, Link> links = new ConcurrentHashMap<>();
    private final ChannelGroup channels = new DefaultChannelGroup("doppel-transport", ImmediateEventExecutor.INSTANCE);
    private final PeerRegistry registry;
    private final WriteBufferWaterMark waterMark;

    private SiteCertificate certificate;
    private SslContext serverSsl;
    private EventLoopGroup group;
    private ExecutorService notifier;
    private ExecutorService blocking;
    private volatile Channel server;
    private volatile int boundPort;
    private volatile boolean closed;
    private volatile int protocolVersion = Hello.PROTOCOL_VERSION;

    /**
     * @param site      the engine's site identity, or null while there is none
     * @param handlers  the frame handlers (the component keeps them up to date)
     * @param listeners the peer listeners (a concurrent collection the component keeps up to date)
     */
    public TransportService(TransportConfig config, Storage storage, Supplier<SiteIdentity> site,
            FrameHandlers handlers, Collection<PeerListener> listeners) {
        this.config = config;
        this.storage = storage;
        this.site = site;
        this.handlers = handlers;
        this.listeners = listeners;
        Path dir = config.directoryPath();
        this.registry = new PeerRegistry(storage, dir.resolve("peers"));
        int high = (int) Math.min(Integer.MAX_VALUE, config.maxQueuedBytes());
        this.waterMark = new WriteBufferWaterMark(high / 2, high);
    }

    /**
     * Loads (or makes) the site certificate, loads the peers, starts listening and dialling. A
     * port that cannot be bound is logged and leaves the transport without a listener (it still
     * dials the peers it has addresses for).
     *
     * @throws IOException if the certificate or the registry cannot be read or made
     */
    public void start() throws IOException {
        Path dir = config.directoryPath();
        SiteIdentity s = site.get();
        certificate = SiteCertificate.loadOrCreate(storage, dir, s != null ? s.id() : UUID.randomUUID().toString());
        registry.load();
        serverSsl = sslContext(SslContextBuilder.forServer(certificate.key(), certificate.certificate())
                .trustManager(PinnedTrustManager.forServer(fp -> linkByFingerprint(fp) != null))
                .clientAuth(ClientAuth.REQUIRE));
        int ioThreads = Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
        group = new MultiThreadIoEventLoopGroup(ioThreads, new DefaultThreadFactory("doppel-transport-io", true),
                NioIoHandler.newFactory());
        notifier = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory("doppel-transport-notify", true));
        ThreadPoolExecutor b = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory("doppel-transport-dial", true));
        b.allowCoreThreadTimeOut(true);
        blocking = b;
        listen();
        for (PeerEntry e : registry.list()) {
            Link l = new Link(this, e, clientSsl(e));
            links.put(e.name(), l);
        }
        LOG.info("Transport of site {} ({}) has fingerprint {}; {} peers", siteId(), siteName(),
                certificate.fingerprint(), links.size());
        links.values().forEach(Link::start);
    }

    private void listen() {
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 64)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, waterMark)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        InetSocketAddress remote = ch.remoteAddress();
                        pipeline(ch, serverSsl.newHandler(ch.alloc(), remote.getHostString(), remote.getPort()),
                                null);
                    }
                });
        ChannelFuture bound = bootstrap.bind(config.address(), config.port()).awaitUninterruptibly();
        if (bound.isSuccess()) {
            server = bound.channel();
            boundPort = ((InetSocketAddress) server.localAddress()).getPort();
            LOG.info("Transport listening on {}", listenAddress());
        } else {
            Throwable cause = bound.cause();
            String reason = cause instanceof BindException ? String.valueOf(cause.getMessage()) : String.valueOf(cause);
            LOG.error("Transport cannot listen on {}:{}: {}; peers cannot dial this site", config.address(),
                    config.port(), reason);
        }
    }

    private void pipeline(SocketChannel ch, SslHandler ssl, Link dialedFor) {
        channels.add(ch);
        ssl.setHandshakeTimeoutMillis(config.connectTimeoutMillis());
        Traffic traffic = new Traffic();
        ch.pipeline()
                .addLast("traffic", traffic)
                .addLast("tls", ssl)
                .addLast("frames", new Wire.Decoder(config.maxPayloadBytes()))
                .addLast("link", new Connection(this, dialedFor, traffic));
    }

    private SslContext clientSsl(PeerEntry peer) {
        return sslContext(SslContextBuilder.forClient()
                .keyManager(certificate.key(), certificate.certificate())
                .trustManager(PinnedTrustManager.forPeer(peer.name(), peer.address(), peer.fingerprint()))
                .endpointIdentificationAlgorithm(null));
    }

    private static SslContext sslContext(SslContextBuilder builder) {
        try {
            return builder.sslProvider(SslProvider.JDK).protocols(TLS_PROTOCOL).build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS 1.3 with this site's key: " + e.getMessage(), e);
        }
    }

    /** Resolves the peer's address off the event loop, then connects; completes once TCP is up. */
    CompletableFuture<Channel> dial(Link link) {
        CompletableFuture<Channel> result = new CompletableFuture<>();
        PeerEntry e = link.entry();
        try {
            blocking.execute(() -> {
                InetSocketAddress target;
                try {
                    target = new InetSocketAddress(InetAddress.getByName(e.host()), e.port());
                } catch (UnknownHostException x) {
                    result.completeExceptionally(new UnknownHostException("unknown host " + e.host()));
                    return;
                }
                Bootstrap b = new Bootstrap()
                        .group(group)
                        .channel(NioSocketChannel.class)
                        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.connectTimeoutMillis())
                        .option(ChannelOption.TCP_NODELAY, true)
                        .option(ChannelOption.SO_KEEPALIVE, true)
                        .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, waterMark)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                // Without a peer host the JDK resumes no TLS session: every connection
                                // is a full handshake, so the peer's trust manager sees this site's
                                // certificate each time (and refuses it once this site was removed).
                                pipeline(ch, link.clientSsl().newHandler(ch.alloc()), link);
                            }
                        });
                try {
                    b.connect(target).addListener((ChannelFuture f) -> {
                        if (f.isSuccess()) {
                            result.complete(f.channel());
                        } else {
                            result.completeExceptionally(f.cause());
                        }
                    });
                } catch (RuntimeException x) {
                    result.completeExceptionally(x);
                }
            });
        } catch (RejectedExecutionException x) {
            result.completeExceptionally(new IOException("the transport is stopping"));
        }
        return result;
    }

    /** Closes every link and the listener, then stops the threads. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        String why = "site " + (certificate == null ? "" : siteId() + " ") + "is shutting down";
        links.values().forEach(l -> l.shutdown(why, why, false));
        Channel s = server;
        server = null;
        if (s != null) {
            s.close().awaitUninterruptibly(CLOSE_WAIT_MILLIS);
        }
        channels.close().awaitUninterruptibly(CLOSE_WAIT_MILLIS);
        if (group != null) {
            io.netty.util.concurrent.Future<?> stopped = group.shutdownGracefully(0, CLOSE_WAIT_MILLIS,
                    TimeUnit.MILLISECONDS);
            // A closed socket keeps its port until its selector lets go of it: wait for the event
            // loops to end, so that a restart (a configuration change) can bind the same port.
            if (!onEventLoop()) {
                stopped.awaitUninterruptibly(CLOSE_WAIT_MILLIS);
            }
        }
        if (notifier != null) {
            notifier.shutdown();
        }
        if (blocking != null) {
            blocking.shutdownNow();
        }
        LOG.info("Transport stopped");
    }

    private boolean onEventLoop() {
        for (EventExecutor e : group) {
            if (e.inEventLoop()) {
                return true;
            }
        }
        return false;
    }

    // ---- for links and connections --------------------------------------------------------

    TransportConfig config() {
        return config;
    }

    EventLoopGroup group() {
        return group;
    }

    FrameHandlers handlers() {
        return handlers;
    }

    boolean isClosed() {
        return closed;
    }

    String siteId() {
        SiteIdentity s = site.get();
        return s != null ? s.id() : certificate.commonName();
    }

    String siteName() {
        SiteIdentity s = site.get();
        if (s != null) {
            return s.name();
        }
        String host = System.getenv("HOSTNAME");
        return host != null && !host.isBlank() ? host : siteId();
    }

    int protocolVersion() {
        return protocolVersion;
    }

    /** Test hook: the transport protocol version this site announces and accepts. */
    void protocolVersion(int version) {
        protocolVersion = version;
    }

    Link linkByFingerprint(String fingerprint) {
        for (Link l : links.values()) {
            if (l.fingerprint().equals(fingerprint)) {
                return l;
            }
        }
        return null;
    }

    /** Tells the listeners, in order, on the notifier thread. */
    void notifyListeners(PeerInfo info) {
        try {
            notifier.execute(() -> {
                for (PeerListener l : listeners) {
                    try {
                        l.linkChanged(info);
                    } catch (RuntimeException e) {
                        LOG.warn("Peer listener {} failed on peer {} ({}): {}", l, info.name(), info.state(),
                                e.getMessage(), e);
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            LOG.debug("Not telling the listeners that peer {} is {}: the transport is stopped", info.name(),
                    info.state());
        }
    }

    /** Records a peer's site id in the registry, off the event loop. */
    void persistSiteId(String name, String siteId) {
        try {
            blocking.execute(() -> {
                try {
                    if (registry.updateSiteId(name, siteId)) {
                        LOG.info("Peer {} is site {}", name, siteId);
                    }
                } catch (IOException e) {
                    LOG.error("Cannot record the site id {} of peer {}: {}", siteId, name, e.getMessage(), e);
                }
            });
        } catch (RejectedExecutionException e) {
            LOG.debug("Not recording the site id of peer {}: the transport is stopped", name);
        }
    }

    /** The bound port (differs from the configured one when that is 0), or 0 when not listening. */
    int port() {
        return boundPort;
    }

    // ---- Transport ---------------------------------------------------------------------------

    @Override
    public String fingerprint() {
        return certificate.fingerprint();
    }

    @Override
    public String listenAddress() {
        String host = config.address().indexOf(':') >= 0 ? "[" + config.address() + "]" : config.address();
        return host + ":" + (boundPort != 0 ? boundPort : config.port());
    }

    @Override
    public LocalSite localSite() {
        return new LocalSite(siteId(), siteName(), fingerprint(), listenAddress(), server != null);
    }

    @Override
    public List<PeerInfo> peers() {
        List<PeerInfo> out = new ArrayList<>();
        for (Link l : links.values()) {
            out.add(l.info());
        }
        out.sort(Comparator.comparing(PeerInfo::name));
        return out;
    }

    @Override
    public Optional<PeerInfo> peer(String name) {
        Link l = links.get(name);
        return l == null ? Optional.empty() : Optional.of(l.info());
    }

    @Override
    public synchronized PeerInfo addPeer(String name, String address, String fingerprint) {
        checkOpen();
        PeerEntry.checkName(name);
        String addr = PeerEntry.checkAddress(address);
        String fp = Fingerprints.normalize(fingerprint);
        if (fp.equals(fingerprint())) {
            throw new IllegalArgumentException("fingerprint " + fp + " is this site's own certificate: add the"
                    + " other site's fingerprint (doppel:site-id prints it on that site)");
        }
        PeerEntry entry = new PeerEntry(name, addr, fp, "");
        SslContext ssl = clientSsl(entry);
        try {
            registry.add(entry);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        Link l = new Link(this, entry, ssl);
        links.put(name, l);
        LOG.info("Added peer {} ({}) with fingerprint {}", name, addr.isEmpty() ? "no address" : addr, fp);
        l.start();
        return l.info();
    }

    @Override
    public synchronized void removePeer(String name) {
        checkOpen();
        if (!links.containsKey(name)) {
            throw unknown(name);
        }
        try {
            registry.remove(name);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        Link l = links.remove(name);
        boolean wasUp = l.isConnected();
        l.shutdown("peer " + name + " was removed from site " + siteId(),
                "site " + siteId() + " removed this site from its peers and refuses it", true);
        LOG.info("Removed peer {} ({})", name, l.fingerprint());
        if (wasUp) {
            notifyListeners(l.info());
        }
    }

    @Override
    public PeerLink link(String peer) {
        Link l = links.get(peer);
        if (l == null) {
            throw unknown(peer);
        }
        return l;
    }

    private IllegalArgumentException unknown(String name) {
        String known = links.keySet().stream().sorted().collect(Collectors.joining(", "));
        return new IllegalArgumentException("unknown peer '" + name + "'; "
                + (known.isEmpty() ? "no peers are added (doppel:peer-add)" : "known peers: " + known));
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the transport is stopped");
        }
    }
}
