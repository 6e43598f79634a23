package io.doppel.nbd.internal;

import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import io.doppel.api.device.DeviceProvider;
import io.doppel.api.storage.Storage;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The NBD server without OSGi: the export registry, the listening socket, the connections
 * and the worker pool that runs block-device calls. {@link NbdServer} wraps it as a component.
 */
final class NbdService implements NbdAdmin, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NbdService.class);

    private static final long CLOSE_WAIT_MILLIS = 3000;

    private final NbdConfig config;
    private final DeviceProvider devices;
    private final ExportRegistry registry;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private ThreadPoolExecutor workers;
    private EventLoopGroup group;
    private volatile Channel listener;
    private volatile String listenFailure = "not started";
    private volatile int port;

    NbdService(NbdConfig config, Storage storage, DeviceProvider devices) {
        this.config = config;
        this.devices = devices;
        this.registry = new ExportRegistry(storage, config.exportsPath());
    }

    /**
     * Loads the export registry and starts listening. A port that cannot be bound is logged and
     * leaves the server without a listener (exports can still be managed).
     *
     * @throws IOException if the export registry cannot be read or created
     */
    void start() throws IOException {
        registry.load(config.defaultExport());
        workers = new ThreadPoolExecutor(config.workerThreads(), config.workerThreads(), 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), new DefaultThreadFactory("doppel-nbd-worker", true));
        workers.allowCoreThreadTimeOut(true);
        int ioThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
        group = new MultiThreadIoEventLoopGroup(ioThreads, new DefaultThreadFactory("doppel-nbd-io", true),
                NioIoHandler.newFactory());
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 128)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("nbd", new NbdConnection(NbdService.this));
                    }
                });
        ChannelFuture bound = bootstrap.bind(config.address(), config.port()).awaitUninterruptibly();
        if (bound.isSuccess()) {
            listener = bound.channel();
            port = ((InetSocketAddress) listener.localAddress()).getPort();
            listenFailure = null;
            LOG.info("NBD server listening on {}:{} with {} exports ({})", config.address(), port,
                    registry.list().size(), registry.file());
        } else {
            Throwable cause = bound.cause();
            String reason = cause instanceof BindException && String.valueOf(cause.getMessage()).toLowerCase()
                    .contains("address already in use") ? "address already in use" : String.valueOf(cause);
            listenFailure = "cannot listen on " + config.address() + ":" + config.port() + ": " + reason;
            if (cause instanceof BindException) {
                LOG.error("NBD server {}", listenFailure);
            } else {
                LOG.error("NBD server {}", listenFailure, cause);
            }
        }
    }

    /** Closes the listener and every connection, then stops the threads. */
    @Override
    public void close() {
        Channel l = listener;
        listener = null;
        listenFailure = "stopped";
        if (l != null) {
            l.close().awaitUninterruptibly(CLOSE_WAIT_MILLIS);
        }
        List<NbdConnection> open = new ArrayList<>(connections);
        if (!open.isEmpty()) {
            LOG.info("Closing {} NBD connections", open.size());
        }
        open.forEach(NbdConnection::close);
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(CLOSE_WAIT_MILLIS);
        }
        if (workers != null) {
            // no shutdownNow: an interrupt would close the engine's file channels under a request
            workers.shutdown();
            try {
                if (!workers.awaitTermination(CLOSE_WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
                    LOG.warn("NBD worker threads still busy after {} ms; they finish in the background",
                            CLOSE_WAIT_MILLIS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        open.forEach(NbdConnection::closeDevice);
    }

    // ---- for the connections --------------------------------------------------------------

    NbdConfig config() {
        return config;
    }

    DeviceProvider devices() {
        return devices;
    }

    ExportRegistry registry() {
        return registry;
    }

    ExecutorService workers() {
        return workers;
    }

    /** The export a client means; the empty name is the default export. Null if there is none. */
    Export resolve(String name) {
        String n = name.isEmpty() ? config.defaultExport() : name;
        return n.isEmpty() ? null : registry.find(n).orElse(null);
    }

    /** The open connections. */
    Set<NbdConnection> connections() {
        return connections;
    }

    void connectionOpened(NbdConnection c) {
        connections.add(c);
    }

    void connectionClosed(NbdConnection c) {
        connections.remove(c);
    }

    // ---- administration -------------------------------------------------------------------

    /** The bound port (differs from the configured one when that is 0), or 0 when not listening. */
    int port() {
        return port;
    }

    boolean listening() {
        return listener != null;
    }

    String uri(String exportName) {
        String host = config.address().indexOf(':') >= 0 ? "[" + config.address() + "]" : config.address();
        return "nbd://" + host + ":" + (port != 0 ? port : config.port()) + "/" + exportName;
    }

    @Override
    public List<ExportStatus> exports() {
        List<ExportStatus> out = new ArrayList<>();
        for (Export e : registry.list()) {
            out.add(status(e));
        }
        return out;
    }

    private ExportStatus status(Export e) {
        int attached = (int) connections.stream().filter(c -> c.export() != null
                && c.export().name().equals(e.name())).count();
        return new ExportStatus(e.name(), uri(e.name()), e.volume(), e.snapshot(), e.mode(), attached,
                e.description());
    }

    @Override
    public ExportStatus addExport(Export export) throws IOException {
        registry.add(export);
        LOG.info("Added export {} of {} ({})", export.name(), export.target(), export.mode());
        return status(export);
    }

    @Override
    public int removeExport(String name, boolean force) throws IOException {
        if (registry.find(name).isEmpty()) {
            throw new IllegalArgumentException("export " + name + " does not exist");
        }
        List<NbdConnection> users = connections.stream()
                .filter(c -> c.export() != null && c.export().name().equals(name)).collect(Collectors.toList());
        if (!users.isEmpty() && !force) {
            throw new IllegalStateException("export " + name + " has " + users.size()
                    + " client connection(s); disconnect them first or use --force");
        }
        registry.remove(name);
        users.forEach(NbdConnection::close);
        LOG.info("Removed export {}{}", name, users.isEmpty() ? "" : ", dropped " + users.size() + " connection(s)");
        return users.size();
    }

    @Override
    public NbdStatus status() {
        List<ConnectionStatus> list = connections.stream().map(NbdConnection::status)
                .sorted(Comparator.comparing(ConnectionStatus::remote)).collect(Collectors.toList());
        String failure = listenFailure;
        boolean up = listener != null;
        return new NbdStatus(up ? config.address() + ":" + port : failure, up, list);
    }

    /** Why {@code volume} must not be deleted: the exports that serve it or its snapshots. */
    Optional<String> vetoDelete(String volume) {
        List<String> uris = registry.list().stream().filter(e -> e.volume().equals(volume))
                .map(e -> uri(e.name())).collect(Collectors.toList());
        return uris.isEmpty() ? Optional.empty()
                : Optional.of("volume " + volume + " is exported as " + String.join(", ", uris)
                        + "; remove the export first (doppel:export-remove)");
    }

    Optional<String> vetoDeleteSnapshot(String volume, String snapshot) {
        List<String> uris = registry.list().stream()
                .filter(e -> e.volume().equals(volume) && snapshot.equals(e.snapshot()))
                .map(e -> uri(e.name())).collect(Collectors.toList());
        return uris.isEmpty() ? Optional.empty()
                : Optional.of("snapshot " + volume + "@" + snapshot + " is exported as " + String.join(", ", uris)
                        + "; remove the export first (doppel:export-remove)");
    }
}
