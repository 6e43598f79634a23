package io.doppel.volume.internal;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.PoolDirectory;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeGuard;
import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The volume registry and pool: creates, places, opens and deletes volumes. All file I/O goes
 * through {@link Storage}. The registry file is rewritten atomically after every change, and
 * the in-memory copy replaced only once the new one is on disk.
 */
public final class VolumeManager implements VolumeService, Closeable {

    private static final Logger LOG = LoggerFactory.getLogger(VolumeManager.class);

    /** Starts with '_', which no volume name may, so it never collides with a volume directory. */
    public static final String REGISTRY_FILE = "_volumes.registry";

    private static final Pattern VOLUME_FILE = Pattern.compile(OpenVolume.DATA + "|snap-\\d+\\.(data|log)");

    private final Storage storage;
    private final Path registryFile;
    private final Supplier<? extends Collection<? extends VolumeGuard>> guards;
    private final Clock clock;
    private volatile List<Path> pool;
    /** Last problem reported per pool directory, so a broken directory is logged once, not at every call. */
    private final Map<Path, String> poolProblems = new ConcurrentHashMap<>();

    private final Object registryLock = new Object();
    /** Replaced under {@link #registryLock}, after the new content is on disk. */
    private volatile Registry registry;

    /** Guarded by this. */
    private final Map<String, OpenVolume> open = new HashMap<>();
    private volatile boolean stopped;

    /**
     * Reads the registry (or starts an empty one) and creates missing pool directories.
     *
     * @param registryDirectory where the registry file lives
     * @param poolDirectories   data directories volumes are allocated from, at least one
     * @param guards            the current {@link VolumeGuard}s, asked before a delete
     * @throws IOException naming the registry file when it cannot be read or is damaged
     */
    public VolumeManager(Storage storage, Path registryDirectory, List<Path> poolDirectories,
            Supplier<? extends Collection<? extends VolumeGuard>> guards, Clock clock) throws IOException {
        this.storage = storage;
        this.guards = guards;
        this.clock = clock;
        Path regDir = registryDirectory.toAbsolutePath().normalize();
        this.registryFile = regDir.resolve(REGISTRY_FILE);
        try {
            storage.createDirectories(regDir);
        } catch (IOException e) {
            throw new IOException("cannot create the volume registry directory " + regDir + ": " + e, e);
        }
        this.registry = storage.exists(registryFile)
                ? RegistryCodec.decode(storage.readAll(registryFile), registryFile)
                : Registry.EMPTY;
        setPoolDirectories(poolDirectories);
        LOG.info("Volume registry {}: {} volume(s); pool {}", registryFile, registry.volumes().size(), pool);
    }

    /** Replaces the pool; volumes already placed stay where they are. */
    public void setPoolDirectories(List<Path> directories) {
        if (directories.isEmpty()) {
            throw new IllegalArgumentException("at least one pool directory is needed");
        }
        Set<Path> dirs = new LinkedHashSet<>();
        for (Path p : directories) {
            dirs.add(p.toAbsolutePath().normalize());
        }
        this.pool = List.copyOf(dirs);
        for (Path dir : pool) {
            ensureDirectory(dir);
        }
    }

    public List<Path> poolDirectories() {
        return pool;
    }

    public Path registryFile() {
        return registryFile;
    }

    // ---- VolumeService --------------------------------------------------------------------

    @Override
    public VolumeInfo create(String name, long size, String group) throws IOException {
        Names.volume(name);
        Names.size(size);
        Names.group(group);
        checkRunning();
        synchronized (registryLock) {
            Registry r = registry;
            if (r.find(name).isPresent()) {
                throw new IllegalArgumentException("volume " + name + " already exists");
            }
            if (r.nextId() == Integer.MAX_VALUE) {
                throw new IllegalStateException("volume ids are exhausted (the next would be " + r.nextId() + ")");
            }
            Path poolDir = placement();
            Path dir = poolDir.resolve(name);
            storage.createDirectories(dir);
            removeVolumeFiles(dir, "left in the way of new volume " + name);
            try (StorageFile data = storage.open(dir.resolve(OpenVolume.DATA), true)) {
                data.setLength(size);
                data.force();
            }
            VolumeInfo info = new VolumeInfo(r.nextId(), name, group, size, poolDir.toString(), clock.instant());
            commit(r.with(new Registry.Entry(info, 1, List.of())));
            LOG.info("Volume {} (id {}, group {}, {}) created in {}", name, info.id(), group, ByteSize.format(size),
                    poolDir);
            return info;
        }
    }

    @Override
    public List<VolumeInfo> list() {
        return registry.volumes().stream().map(Registry.Entry::info).toList();
    }

    @Override
    public Optional<VolumeInfo> find(String name) {
        return registry.find(name).map(Registry.Entry::info);
    }

    @Override
    public void delete(String name) throws IOException {
        checkRunning();
        Registry.Entry entry = entry(name);
        List<String> vetoes = new ArrayList<>();
        for (VolumeGuard g : guards.get()) {
            ask(g, () -> g.vetoDelete(name)).ifPresent(vetoes::add);
        }
        if (!vetoes.isEmpty()) {
            throw new IllegalStateException("volume " + name + " cannot be deleted: " + String.join("; ", vetoes));
        }
        synchronized (this) {
            OpenVolume ov = open.get(name);
            if (ov != null) {
                throw new IllegalStateException("volume " + name + " is open by " + ov.refs + " handle(s)");
            }
            synchronized (registryLock) {
                entry = entry(name);
                // Registry first: a crash before the files are gone leaves only unowned files behind.
                commit(registry.without(name));
                Path dir = OpenVolume.directory(entry.info());
                removeVolumeFiles(dir, null);
                try {
                    storage.deleteIfExists(dir);
                } catch (IOException e) {
                    LOG.warn("Volume {} deleted, but its directory {} is not empty and stays", name, dir);
                }
            }
        }
        LOG.info("Volume {} (id {}) deleted", name, entry.info().id());
    }

    @Override
    public synchronized Volume open(String name) throws IOException {
        checkRunning();
        Registry.Entry entry = entry(name);
        OpenVolume ov = open.get(name);
        if (ov == null) {
            ov = OpenVolume.open(this, storage, entry);
            open.put(name, ov);
        }
        ov.refs++;
        return new VolumeHandle(this, ov);
    }

    @Override
    public List<PoolDirectory> pool() throws IOException {
        Registry r = registry;
        List<PoolDirectory> out = new ArrayList<>();
        for (Path dir : pool) {
            int volumes = 0;
            long provisioned = 0;
            for (Registry.Entry e : r.volumes()) {
                if (Path.of(e.info().directory()).equals(dir)) {
                    volumes++;
                    provisioned += e.info().size();
                }
            }
            long total = 0;
            long usable = 0;
            if (ensureDirectory(dir)) {
                try {
                    total = storage.totalSpace(dir);
                    usable = storage.usableSpace(dir);
                } catch (IOException e) {
                    problem(dir, "its free space cannot be read: " + e);
                }
            }
            out.add(new PoolDirectory(dir.toString(), total, usable, volumes, provisioned));
        }
        return out;
    }

    /** Closes every open volume; handles fail with "volume service stopped" from now on. */
    @Override
    public synchronized void close() {
        stopped = true;
        for (OpenVolume ov : open.values()) {
            ov.closeFiles();
        }
        open.clear();
    }

    // ---- used by OpenVolume and VolumeHandle ----------------------------------------------

    boolean isStopped() {
        return stopped;
    }

    static IOException stopped(Throwable cause) {
        return new IOException("volume service stopped", cause);
    }

    synchronized void release(OpenVolume ov) {
        if (open.get(ov.name()) != ov) {
            return; // closed with the service already
        }
        if (--ov.refs == 0) {
            open.remove(ov.name());
            ov.closeFiles();
        }
    }

    Instant now() {
        return clock.instant();
    }

    long nextSnapshotOrder(String volume) {
        return entry(volume).nextSnapshotOrder();
    }

    VolumeInfo updateInfo(VolumeInfo info) throws IOException {
        synchronized (registryLock) {
            commit(registry.replace(entry(info.name()).withInfo(info)));
            return info;
        }
    }

    void addSnapshot(String volume, Registry.Snapshot s) throws IOException {
        synchronized (registryLock) {
            commit(registry.replace(entry(volume).withSnapshot(s)));
        }
    }

    void removeSnapshot(String volume, String snapshot) throws IOException {
        synchronized (registryLock) {
            commit(registry.replace(entry(volume).withoutSnapshot(snapshot)));
        }
    }

    /** @throws IllegalStateException with every guard's reason when one refuses */
    void checkSnapshotDelete(String volume, String snapshot) {
        List<String> vetoes = new ArrayList<>();
        for (VolumeGuard g : guards.get()) {
            ask(g, () -> g.vetoDeleteSnapshot(volume, snapshot)).ifPresent(vetoes::add);
        }
        if (!vetoes.isEmpty()) {
            throw new IllegalStateException("snapshot " + volume + "@" + snapshot + " cannot be deleted: "
                    + String.join("; ", vetoes));
        }
    }

    // ---- internals ------------------------------------------------------------------------

    private void checkRunning() throws IOException {
        if (stopped) {
            throw stopped(null);
        }
    }

    private Registry.Entry entry(String name) {
        return registry.find(name)
                .orElseThrow(() -> new IllegalArgumentException("no volume named " + Names.quote(name)));
    }

    private void commit(Registry next) throws IOException {
        storage.writeAtomically(registryFile, RegistryCodec.encode(next));
        registry = next;
    }

    /** A guard that fails counts as a veto: deleting what may be in use is worse than refusing. */
    private static Optional<String> ask(VolumeGuard g, Supplier<Optional<String>> question) {
        try {
            Optional<String> answer = question.get();
            return answer == null ? Optional.empty() : answer;
        } catch (RuntimeException e) {
            LOG.warn("Volume guard {} failed", g, e);
            return Optional.of("guard " + g.getClass().getName() + " failed: " + e);
        }
    }

    /** The pool directory with the most usable space. */
    private Path placement() throws IOException {
        Path best = null;
        long bestSpace = -1;
        List<String> problems = new ArrayList<>();
        for (Path dir : pool) {
            if (!ensureDirectory(dir)) {
                problems.add(dir + " (" + poolProblems.get(dir) + ")");
                continue;
            }
            try {
                long usable = storage.usableSpace(dir);
                if (usable > bestSpace) {
                    best = dir;
                    bestSpace = usable;
                }
            } catch (IOException e) {
                problem(dir, "its free space cannot be read: " + e);
                problems.add(dir + " (" + e + ")");
            }
        }
        if (best == null) {
            throw new IOException("no pool directory is usable: " + String.join(", ", problems));
        }
        return best;
    }

    /** Creates a missing pool directory; false (and one ERROR log) when that fails. */
    private boolean ensureDirectory(Path dir) {
        try {
            boolean existed = storage.exists(dir);
            storage.createDirectories(dir); // also fails when a file is in the way
            if (!existed) {
                LOG.info("Created pool directory {}", dir);
            }
            if (poolProblems.remove(dir) != null) {
                LOG.info("Pool directory {} is usable again", dir);
            }
            return true;
        } catch (IOException e) {
            problem(dir, "it cannot be created: " + e);
            return false;
        }
    }

    private void problem(Path dir, String what) {
        if (!what.equals(poolProblems.put(dir, what))) {
            LOG.error("Pool directory {} is unusable: {}", dir, what);
        }
    }

    /** Removes the files a volume consists of from {@code dir} (and nothing else). */
    private void removeVolumeFiles(Path dir, String leftoverReason) throws IOException {
        for (Path p : storage.list(dir)) {
            if (VOLUME_FILE.matcher(p.getFileName().toString()).matches()) {
                if (leftoverReason != null) {
                    LOG.warn("Removing {}: {}", p, leftoverReason);
                }
                storage.deleteIfExists(p);
            }
        }
    }
}
