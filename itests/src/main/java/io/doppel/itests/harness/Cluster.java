package io.doppel.itests.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Several appliances under one work directory, with distinct ports, one SSH key and one life span.
 * <p>
 * {@link #close()} kills whatever still runs and releases the ports. The work directory is deleted
 * unless a test failed ({@link #markFailed()}, done by {@link ClusterExtension}) or
 * {@code -Ddoppel.keep=true} is set; then it is kept for a post-mortem and its path is logged.
 *
 * <pre>{@code
 * try (Cluster cluster = Cluster.builder(workDir).appliances("primary", "secondary").build()) {
 *     cluster.startAll();
 *     String name = cluster.appliance("primary").execOk("system:name");
 * }
 * }</pre>
 */
public final class Cluster implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Cluster.class);

    /** System property: keep work directories even when all went well. */
    public static final String KEEP_PROPERTY = "doppel.keep";
    private static final String MARKER = ".doppel-cluster";

    private final Path workDir;
    private final SshKey key;
    private final PortAllocator ports;
    private final Map<String, Appliance> appliances;
    private final boolean keep;
    private volatile boolean failed;
    private boolean closed;

    private Cluster(Path workDir, SshKey key, PortAllocator ports, Map<String, Appliance> appliances, boolean keep) {
        this.workDir = workDir;
        this.key = key;
        this.ports = ports;
        this.appliances = appliances;
        this.keep = keep;
    }

    public static Builder builder(Path workDir) {
        return new Builder(workDir);
    }

    /** The appliance called {@code name}. */
    public Appliance appliance(String name) {
        Appliance appliance = appliances.get(name);
        if (appliance == null) {
            throw new IllegalArgumentException("No appliance '" + name + "' in this cluster; it has "
                    + appliances.keySet());
        }
        return appliance;
    }

    /** The appliances in the order they were declared. */
    public List<Appliance> appliances() {
        return List.copyOf(appliances.values());
    }

    /**
     * Starts every appliance that is not running, all at once, and waits until each is ready.
     * Booting together costs little more than booting one.
     */
    public Cluster startAll() {
        List<Appliance> starting = appliances.values().stream().filter(appliance -> !appliance.isRunning()).toList();
        starting.forEach(Appliance::launch);
        starting.forEach(Appliance::awaitReady);
        return this;
    }

    /** Stops every running appliance gracefully. */
    public void stopAll() {
        appliances.values().stream().filter(Appliance::isRunning).forEach(Appliance::stop);
    }

    /** Kills every appliance that was started (SIGKILL). */
    public void killAll() {
        appliances.values().forEach(Appliance::kill);
    }

    /** Keeps the work directory when the cluster is closed: a test failed. */
    public void markFailed() {
        failed = true;
    }

    public Path workDir() {
        return workDir;
    }

    public SshKey sshKey() {
        return key;
    }

    /** Kills every appliance, releases the ports, and deletes or keeps the work directory. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure = null;
        for (Appliance appliance : appliances.values()) {
            try {
                appliance.kill();
            } catch (RuntimeException e) {
                failure = chain(failure, e);
            }
        }
        ports.close();
        if (failed || keep) {
            LOG.info("Kept the work directory {} ({}); consoles: {}", workDir,
                    failed ? "a test failed" : "-D" + KEEP_PROPERTY + "=true",
                    appliances.values().stream().map(a -> a.name() + ": " + a.sshCommand()).toList());
        } else {
            try {
                deleteRecursively(workDir);
            } catch (UncheckedIOException e) {
                failure = chain(failure, e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException chain(RuntimeException first, RuntimeException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    /**
     * Creates an empty work directory with a marker file. A directory left by an earlier run (it
     * has the marker) is deleted first; any other non-empty directory is refused, so that a wrong
     * path never loses data.
     */
    static void prepareWorkDir(Path directory) {
        try {
            if (Files.isDirectory(directory)) {
                boolean empty;
                try (Stream<Path> entries = Files.list(directory)) {
                    empty = entries.findAny().isEmpty();
                }
                if (!empty && !Files.exists(directory.resolve(MARKER))) {
                    throw new IllegalArgumentException("The work directory " + directory
                            + " is not empty and was not made by the harness (no " + MARKER + ")");
                }
                deleteRecursively(directory);
            }
            Files.createDirectories(directory);
            Files.writeString(directory.resolve(MARKER), "Doppel test cluster; deleted by the next run.\n");
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare the work directory " + directory, e);
        }
    }

    static void deleteRecursively(Path directory) {
        if (!Files.exists(directory)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot delete " + directory, e);
        }
    }

    /** Declares the appliances of a cluster; {@link #build()} unpacks them. */
    public static final class Builder {

        private final Path workDir;
        private final List<String> names = new ArrayList<>();
        private final List<Consumer<Appliance>> customizers = new ArrayList<>();
        private Distribution distribution;
        private boolean keep = Boolean.getBoolean(KEEP_PROPERTY);

        private Builder(Path workDir) {
            this.workDir = Objects.requireNonNull(workDir, "workDir").toAbsolutePath();
        }

        /** Appliances with these names (each gets directory {@code workDir/NAME}). */
        public Builder appliances(String... names) {
            for (String name : names) {
                if (this.names.contains(name)) {
                    throw new IllegalArgumentException("Appliance name '" + name + "' is given twice");
                }
                this.names.add(name);
            }
            return this;
        }

        /** {@code count} appliances called {@code node1}, {@code node2}, ... */
        public Builder appliances(int count) {
            if (count < 1) {
                throw new IllegalArgumentException("A cluster needs at least one appliance, not " + count);
            }
            return appliances(IntStream.rangeClosed(1, count).mapToObj(i -> "node" + i).toArray(String[]::new));
        }

        /** The distribution to unpack (default: {@link Distribution#fromSystemProperties()}). */
        public Builder distribution(Distribution distribution) {
            this.distribution = Objects.requireNonNull(distribution, "distribution");
            return this;
        }

        /** Applied to each appliance after unpacking, before anything starts (configuration, JVM options). */
        public Builder eachAppliance(Consumer<Appliance> customizer) {
            customizers.add(Objects.requireNonNull(customizer, "customizer"));
            return this;
        }

        /** Keep the work directory even if every test passed. */
        public Builder keepWorkDir(boolean keep) {
            this.keep = keep;
            return this;
        }

        /** Creates the work directory, the SSH key and the ports, and unpacks every appliance. */
        public Cluster build() {
            if (names.isEmpty()) {
                throw new IllegalStateException("No appliances declared: call appliances(...) before build()");
            }
            Distribution source = distribution != null ? distribution : Distribution.fromSystemProperties();
            PortAllocator allocator = new PortAllocator();
            try {
                prepareWorkDir(workDir);
                SshKey key = SshKey.generate(workDir.resolve("ssh"));
                Map<String, Appliance> appliances = new LinkedHashMap<>();
                for (String name : names) {
                    Appliance appliance = Appliance.unpack(source, workDir.resolve(name), name,
                            allocator.reserveAppliancePorts(), key);
                    customizers.forEach(customizer -> customizer.accept(appliance));
                    appliances.put(name, appliance);
                }
                return new Cluster(workDir, key, allocator, appliances, keep);
            } catch (RuntimeException e) {
                allocator.close();
                throw e;
            }
        }
    }
}
