package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.journal.Position;
import io.doppel.api.pair.PairInfo;
import io.doppel.bitmap.internal.DifferenceMapStore;
import io.doppel.copyasync.internal.AsyncCopyMode;
import io.doppel.copysync.internal.SyncCopyMode;
import io.doppel.journal.internal.JournalManager;
import io.doppel.journal.internal.JournalSettings;
import io.doppel.testkit.SimulatedStorage;
import io.doppel.volume.internal.VolumeManager;

import org.awaitility.Awaitility;

/**
 * A whole site in the test JVM: engine, replication, the real volume, journal and map
 * implementations over its own simulated storage, and the copy modes, on a loopback network.
 */
final class ReplicationSite implements AutoCloseable {

    static final Path ROOT = Path.of("/doppel");

    final String name;
    final SimulatedStorage storage;
    final LoopbackNet net;
    final JournalSettings journalSettings;
    final long volumeSize;
    ScheduledExecutorService executor;
    Engine engine;
    Replication repl;
    VolumeManager volumes;
    JournalManager journals;
    /** The copy modes bound at start (a test unbinds and binds them, as a bundle update does). */
    SyncCopyMode syncMode;
    AsyncCopyMode asyncMode;
    /** A journal-only site: its group "default" keeps a journal and no volume data (made on first start). */
    boolean journalOnly;
    /** The load pull pacing reads: set by tests, so the machine's own load does not steer them. */
    final SetLoad load = new SetLoad();

    /** A load a test sets. */
    static final class SetLoad implements SiteLoad {
        volatile double cpuBusy;
        volatile double otherLoad;

        @Override
        public double cpuBusy() {
            return cpuBusy;
        }

        @Override
        public double otherLoad() {
            return otherLoad;
        }
    }

    ReplicationSite(String name, LoopbackNet net, SimulatedStorage storage, JournalSettings js, long volumeSize) {
        this.name = name;
        this.net = net;
        this.storage = storage;
        this.journalSettings = js;
        this.volumeSize = volumeSize;
    }

    /** Makes this (not yet started) site journal-only. */
    ReplicationSite journalOnly() {
        journalOnly = true;
        return this;
    }

    /** How long host writes wait after the start for each peer's answer (EngineSettings.reignCheckMillis). */
    ReplicationSite reignCheck(long millis) {
        reignCheckMillis = millis;
        return this;
    }

    private long reignCheckMillis = EngineSettings.DEFAULT_REIGN_CHECK_MILLIS;

    /** Starts (or restarts, on the same storage) the site. */
    ReplicationSite start() throws IOException {
        executor = Executors.newScheduledThreadPool(2);
        engine = new Engine(storage, journalOnly
                ? new EngineSettings(ROOT, 10_000, 3_600_000, "", "", 0, EngineSettings.DEFAULT_COPY_MODE_HOLD_MILLIS,
                        reignCheckMillis)
                : new EngineSettings(ROOT, 10_000, 3_600_000, "default", "vol0", volumeSize,
                        EngineSettings.DEFAULT_COPY_MODE_HOLD_MILLIS, reignCheckMillis), executor);
        repl = engine.replication(new PairStore(storage, ROOT));
        repl.load(load);
        repl.transport(net.site(name, repl::handle, repl::linkChanged));
        syncMode = new SyncCopyMode();
        repl.modeAdded(syncMode);
        AsyncCopyMode async = new AsyncCopyMode();
        async.configure(asyncSettings());
        asyncMode = async;
        repl.modeAdded(async);
        volumes = new VolumeManager(storage, ROOT.resolve("volumes"), List.of(ROOT.resolve("volumes")), List::of,
                Clock.systemUTC());
        journals = new JournalManager(storage, ROOT.resolve("journals"), journalSettings, executor);
        engine.volumeService(volumes);
        engine.journalService(journals);
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> engine.gate().isOpen());
        repl.maps(new DifferenceMapStore(storage, ROOT.resolve("maps")));
        if (journalOnly && engine.group("default").isEmpty()) {
            engine.createGroup("default", 0, true);
        }
        return this;
    }

    BlockDevice device() throws IOException {
        return engine.open("vol0", false);
    }

    byte[] image() throws IOException {
        try (BlockDevice d = engine.open("vol0", true)) {
            ByteBuffer b = ByteBuffer.allocate((int) d.size());
            d.read(0, b);
            return b.array();
        }
    }

    Group group() {
        return engine.groupMap().get("default");
    }

    Position head() {
        return group().journal.head();
    }

    PairInfo pair(String peer) {
        return repl.pair("default", peer).orElseThrow();
    }

    /** Waits until this site (a secondary) applied everything up to {@code head}. */
    void awaitApplied(Position head) {
        Awaitility.await().atMost(Duration.ofSeconds(60))
                .until(() -> !group().tracker.watermark().isBefore(head) && group().journal.head().compareTo(head) >= 0);
    }

    @Override
    public void close() {
        engine.close();
        executor.shutdownNow();
    }

    /** Drops everything without closing, as SIGKILL would (the storage keeps what was written). */
    void kill() {
        repl.close();
        executor.shutdownNow();
    }

    /** The asynchronous copy's defaults, with the secondary yielding to a saturated primary (tests set the load). */
    private static AsyncCopyMode.Config asyncSettings() {
        return (AsyncCopyMode.Config) java.lang.reflect.Proxy.newProxyInstance(AsyncCopyMode.Config.class.getClassLoader(),
                new Class<?>[] {AsyncCopyMode.Config.class}, (proxy, method, args) -> {
                    if (method.getName().equals("yieldToBusyPrimary")) {
                        return true;
                    }
                    if (method.getName().equals("annotationType")) {
                        return AsyncCopyMode.Config.class;
                    }
                    return method.getDefaultValue();
                });
    }
}
