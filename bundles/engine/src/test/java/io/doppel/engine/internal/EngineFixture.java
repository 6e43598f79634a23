package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

import io.doppel.api.journal.JournalService;
import io.doppel.api.storage.Storage;
import io.doppel.api.volume.VolumeService;
import io.doppel.journal.internal.JournalManager;
import io.doppel.journal.internal.JournalSettings;
import io.doppel.volume.internal.VolumeManager;

import org.awaitility.Awaitility;

/**
 * An engine wired to the real volume and journal implementations over any {@link Storage}
 * (the simulated one for power cuts), as the DS components would wire it.
 */
final class EngineFixture implements AutoCloseable {

    static final Path ROOT = Path.of("/doppel");

    final Storage storage;
    final ScheduledExecutorService executor = Executors.newScheduledThreadPool(2);
    final Engine engine;
    VolumeManager volumes;
    JournalManager journals;

    EngineFixture(Storage storage, EngineSettings settings) throws IOException {
        this.storage = storage;
        this.engine = new Engine(storage, settings, executor);
    }

    static EngineSettings settings(String firstVolume, long size) {
        return new EngineSettings(ROOT, 10_000, 3_600_000, "default", firstVolume, size);
    }

    /** Small segments so tests cross segment boundaries and fill the journal quickly. */
    static JournalSettings journalSettings(long segmentBytes, long capacity) {
        return new JournalSettings(segmentBytes, capacity, 1 << 20, 64, 64 << 10);
    }

    EngineFixture start(JournalSettings js) throws IOException {
        volumes = newVolumeService();
        journals = newJournalService(js);
        engine.volumeService(volumes);
        engine.journalService(journals);
        awaitServing();
        return this;
    }

    VolumeManager newVolumeService() throws IOException {
        return new VolumeManager(storage, ROOT.resolve("volumes"), List.of(ROOT.resolve("volumes")), List::of,
                Clock.systemUTC());
    }

    JournalManager newJournalService(JournalSettings js) {
        return new JournalManager(storage, ROOT.resolve("journals"), js, executor);
    }

    void awaitServing() {
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> engine.gate().isOpen());
    }

    /** Unbinds and rebinds both services as a bundle update would, with fresh instances. */
    void swapVolumeService() throws IOException {
        VolumeService old = volumes;
        engine.volumeService(null);
        ((VolumeManager) old).close();
        volumes = newVolumeService();
        engine.volumeService(volumes);
    }

    void swapJournalService(JournalSettings js) throws IOException {
        JournalService old = journals;
        engine.journalService(null);
        ((JournalManager) old).closeAll();
        journals = newJournalService(js);
        engine.journalService(journals);
    }

    @Override
    public void close() {
        engine.close();
        executor.shutdownNow();
    }

    /** Drops the engine without checkpointing or closing anything, as SIGKILL or a power cut would. */
    void abandon() {
        executor.shutdownNow();
    }
}
