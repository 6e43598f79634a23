package io.doppel.engine.internal;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.DeviceProvider;
import io.doppel.api.device.IoError;
import io.doppel.api.group.GroupInfo;
import io.doppel.api.group.GroupService;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalFullException;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.RecoveryReport;
import io.doppel.api.storage.Storage;
import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Groups, volumes and the write path.
 *
 * <p>Per host write: block locks of the range; under the journal's append lock a seq and a
 * real file write of the record; the activity log; the volume write; locks released; with
 * FUA, a grouped fsync of the journal. FLUSH forces the journal through its head. Volumes are
 * forced only at checkpoints; after an unclean stop the records after the last checkpoint are
 * redone before any I/O is admitted.
 *
 * <p>The volume and journal services may be replaced at run time (bundle update): the engine
 * closes its {@link IoGate}, waits for running requests, checkpoints and closes what it opened
 * from the old services, and opens everything again from the new ones; held requests then go
 * on. Requests held longer than the hold timeout fail with EIO.
 */
public final class Engine implements DeviceProvider, GroupService {

    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private final Storage storage;
    private final ScheduledExecutorService executor;
    private volatile EngineSettings settings;
    private final SiteStore siteStore;
    private final GroupRegistry registry;
    private volatile SiteStore.Site site;

    private final IoGate gate = new IoGate();
    /** Serializes service swaps and administrative changes. */
    private final Object admin = new Object();
    private final Map<String, Group> groups = new ConcurrentHashMap<>();
    private final Map<String, VolumeSlot> slots = new ConcurrentHashMap<>();

    // Guarded by admin.
    private VolumeService volumeService;
    private JournalService journalService;
    private VolumeService attachedVolumes;
    private JournalService attachedJournals;
    private ScheduledFuture<?> checkpointTask;
    private volatile boolean closed;
    private volatile Replication replication;

    public Engine(Storage storage, EngineSettings settings, ScheduledExecutorService executor) throws IOException {
        this.storage = storage;
        this.settings = settings;
        this.executor = executor;
        this.siteStore = new SiteStore(storage, settings.home());
        this.registry = new GroupRegistry(storage, settings.home());
        this.site = siteStore.loadOrCreate();
        registry.load();
        for (GroupRegistry.Entry e : registry.entries()) {
            groups.put(e.name(), new Group(e.name(), e.id(), e.journalCapacity(), e.journalOnly()));
        }
        LOG.info("Doppel site {} ({}) at {}", site.id(), site.name(), settings.home());
    }

    SiteStore.Site site() {
        return site;
    }

    /** Pairs: created once the engine exists; groups attached before it start their pairs now. */
    Replication replication(PairStore store) throws IOException {
        Replication r = new Replication(this, store);
        replication = r;
        synchronized (admin) {
            if (attachedVolumes != null) {
                for (Group g : groups.values()) {
                    if (g.journal != null) {
                        r.attach(g);
                    }
                }
            }
        }
        return r;
    }

    void settings(EngineSettings s) {
        this.settings = s;
    }

    EngineSettings settings() {
        return settings;
    }

    // ---- services come and go --------------------------------------------------------------

    /** The volume service appeared (or was replaced); null when it went away. */
    public void volumeService(VolumeService vs) {
        synchronized (admin) {
            volumeService = vs;
        }
        reconcile();
    }

    public void journalService(JournalService js) {
        synchronized (admin) {
            journalService = js;
        }
        reconcile();
    }

    /**
     * Brings what is attached in line with the services present: detaches from services that
     * are gone or replaced (synchronously: the old service's files close right after), and
     * attaches to the present pair in the background (redo may take a while).
     */
    private void reconcile() {
        synchronized (admin) {
            boolean stale = attachedVolumes != null
                    && (attachedVolumes != volumeService || attachedJournals != journalService);
            if (stale || closed) {
                detach(describeMissing());
            }
            if (!closed && attachedVolumes == null && volumeService != null && journalService != null) {
                executor.execute(this::attachIfPossible);
            } else if (attachedVolumes == null) {
                String why = describeMissing();
                for (Group g : groups.values()) {
                    g.state(Group.State.HOLDING, why);
                }
            }
        }
    }

    private String describeMissing() {
        if (closed) {
            return "engine stopped";
        }
        if (volumeService == null && journalService == null) {
            return "volume and journal services absent";
        }
        if (volumeService == null) {
            return "volume service absent";
        }
        if (journalService == null) {
            return "journal service absent";
        }
        return "services being replaced";
    }

    private void attachIfPossible() {
        synchronized (admin) {
            if (closed || attachedVolumes != null || volumeService == null || journalService == null) {
                return;
            }
            VolumeService vs = volumeService;
            JournalService js = journalService;
            long t0 = System.nanoTime();
            try {
                attach(vs, js);
            } catch (RuntimeException e) {
                LOG.error("Attaching to the volume and journal services failed", e);
            }
            attachedVolumes = vs;
            attachedJournals = js;
            if (!site.bootstrapped()) {
                bootstrap();
            }
            checkpointTask = executor.scheduleWithFixedDelay(this::periodicCheckpoint,
                    settings.checkpointIntervalMillis(), settings.checkpointIntervalMillis(), TimeUnit.MILLISECONDS);
            gate.open();
            LOG.info("Engine serving {} group(s), {} volume(s) ({} ms to attach)", groups.size(), slots.size(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        }
    }

    private void attach(VolumeService vs, JournalService js) {
        List<VolumeInfo> infos = vs.list();
        for (VolumeInfo info : infos) {
            if (!groups.containsKey(info.group())) {
                // A volume names a group the registry lacks (registry lost or edited): adopt it.
                try {
                    GroupRegistry.Entry e = registry.add(info.group(), 0);
                    groups.put(e.name(), new Group(e.name(), e.id(), e.journalCapacity(), e.journalOnly()));
                    LOG.warn("Volume {} names group {} which was not registered; registered it", info.name(), info.group());
                } catch (IOException | IllegalArgumentException e) {
                    LOG.error("Cannot register group {} of volume {}", info.group(), info.name(), e);
                }
            }
        }
        for (Group g : groups.values()) {
            attachGroup(g, vs, js, infos);
        }
    }

    private void attachGroup(Group g, VolumeService vs, JournalService js, List<VolumeInfo> infos) {
        g.state(Group.State.RECOVERING, "opening journal and volumes");
        try {
            for (VolumeInfo info : infos) {
                if (info.group().equals(g.name)) {
                    VolumeSlot slot = slots.computeIfAbsent(info.name(), n -> new VolumeSlot(n, info.id(), g, info.size()));
                    slot.volume = vs.open(info.name());
                    slot.size = slot.volume.size();
                    g.volumes.put(slot.id, slot);
                }
            }
            Journal j = js.open(new JournalOptions(g.name, g.id, g.journalCapacity));
            j.reclaimHandler(journal -> reclaim(g, journal));
            g.journal = j;
            g.checkpointEvery = Math.max(1, j.status().capacityBytes() / 4);
            redo(g, j);
            g.tracker = new AppliedTracker(j.head());
            g.state(Group.State.SERVING, null);
            Replication r = replication;
            if (r != null) {
                r.attach(g);
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("Group {} cannot be opened: {}", g.name, e.getMessage(), e);
            g.state(Group.State.FAILED, "cannot open: " + e.getMessage());
        }
    }

    /** Re-applies the records after the last checkpoint (an unclean stop left them unforced in the volumes). */
    private void redo(Group g, Journal j) throws IOException {
        RecoveryReport r = j.recovery();
        r.tailDamage().ifPresent(d -> LOG.warn("Group {}: journal tail cut at {} offset {}: {}; last intact record {}, "
                + "{} bytes and {} intact-looking later records dropped", g.name, d.segment(), d.fileOffset(), d.reason(),
                d.lastGood(), d.bytesCut(), d.intactAfterCut()));
        if (r.cleanShutdown() && r.recordsToRedo() == 0) {
            g.crashExtents = List.of();
            return;
        }
        long t0 = System.nanoTime();
        long applied = 0;
        long skipped = 0;
        try (JournalReader rd = j.read(r.checkpoint(), r.head())) {
            for (JournalRecord rec = rd.next(); rec != null; rec = rd.next()) {
                VolumeSlot slot = g.volumes.get(rec.volumeId());
                if (slot == null) {
                    if (rec.touchesBlocks() || rec.kind() == RecordKind.RESIZE) {
                        skipped++;
                    }
                    continue;
                }
                if (g.journalOnly) {
                    continue; // its volumes hold no data: the records are kept for its peers, not applied
                }
                apply(rec, slot);
                applied++;
            }
        }
        for (VolumeSlot s : g.volumes.values()) {
            s.volume.force();
        }
        j.checkpoint(r.head());
        g.crashExtents = List.copyOf(r.activityLog());
        Replication repl = replication;
        if (!r.cleanShutdown() && repl != null && repl.isTargetGroup(g.name)) {
            // a replica's journal carries its primary's positions and epochs only; the primary
            // decides what the unclean stop cost (its resync covers this group's hot extents)
            LOG.info("Group {} is a replica: keeps its primary's epoch {}", g.name, j.epoch());
        } else if (!r.cleanShutdown()) {
            long next = j.epoch() + 1;
            j.beginEpoch(next, site.id());
        }
        LOG.info("Group {}: redid {} record(s) from {} to {} in {} ms ({} for deleted volumes skipped); "
                + "{} activity-log extent(s) were hot; now in epoch {}", g.name, applied, r.checkpoint(), r.head(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), skipped, r.activityLog().size(), j.epoch());
    }

    static void apply(JournalRecord rec, VolumeSlot slot) throws IOException {
        Volume v = slot.volume;
        switch (rec.kind()) {
            case WRITE -> v.write(rec.data().duplicate(), rec.offset());
            case TRIM, ZERO -> v.writeZeroes(rec.offset(), rec.length());
            case RESIZE -> {
                if (rec.offset() > v.size()) {
                    v.resize(rec.offset());
                    slot.size = rec.offset();
                }
            }
            default -> {
                // MARKER and FLUSH change no block.
            }
        }
    }

    /** Called with admin held: quiesces, checkpoints and closes everything opened from the services. */
    private void detach(String why) {
        try {
            gate.close(why);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (checkpointTask != null) {
            checkpointTask.cancel(false);
            checkpointTask = null;
        }
        Replication r = replication;
        for (Group g : groups.values()) {
            if (r != null) {
                r.detach(g);
            }
        }
        for (Group g : groups.values()) {
            g.state(Group.State.HOLDING, why);
            Journal j = g.journal;
            if (j != null) {
                try {
                    if (g.pending.isEmpty()) {
                        checkpoint(g);
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.warn("Group {}: checkpoint before detaching failed; redo will cover it: {}", g.name, PrimaryPair.rootMessage(e));
                }
                try {
                    j.close();
                } catch (IOException | RuntimeException e) {
                    LOG.warn("Group {}: closing the journal failed: {}", g.name, PrimaryPair.rootMessage(e));
                }
                g.journal = null;
            }
            for (VolumeSlot s : g.volumes.values()) {
                Volume v = s.volume;
                s.volume = null;
                if (v != null) {
                    try {
                        v.close();
                    } catch (IOException | RuntimeException e) {
                        LOG.warn("Closing volume {} failed: {}", s.name, e.getMessage());
                    }
                }
            }
            synchronized (g.pending) {
                g.pending.clear(); // redo on the next attach re-applies them
            }
        }
        attachedVolumes = null;
        attachedJournals = null;
        LOG.info("Engine holding I/O: {}", why);
    }

    /** Stops: checkpoints and closes everything; later requests fail. */
    public void close() {
        Replication r = replication;
        if (r != null) {
            r.close();
        }
        synchronized (admin) {
            closed = true;
            if (attachedVolumes != null) {
                detach("engine stopped");
            }
        }
    }

    /** First start: the default group and volume an operator expects to find exported. */
    private void bootstrap() {
        EngineSettings s = settings;
        try {
            if (!s.firstGroup().isEmpty() && !groups.containsKey(s.firstGroup())) {
                createGroupLocked(s.firstGroup(), 0);
            }
            if (!s.firstVolume().isEmpty() && !slots.containsKey(s.firstVolume())) {
                createVolumeLocked(s.firstVolume(), s.firstVolumeSize(), s.firstGroup());
            }
            site = site.withBootstrapped();
            siteStore.save(site);
            if (!s.firstGroup().isEmpty()) {
                LOG.info("First start: created group {} and volume {} ({} bytes)", s.firstGroup(), s.firstVolume(),
                        s.firstVolumeSize());
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("First start: creating the default group and volume failed", e);
        }
    }

    // ---- the write path --------------------------------------------------------------------

    private void enter(VolumeSlot slot) throws IOException {
        long timeout = TimeUnit.MILLISECONDS.toNanos(settings.ioHoldTimeoutMillis());
        try {
            if (!gate.enter(timeout)) {
                throw new DeviceException(IoError.EIO, "I/O to " + slot.name + " held for "
                        + settings.ioHoldTimeoutMillis() + " ms: " + gate.reason());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DeviceException(IoError.EIO, "interrupted while I/O was held");
        }
    }

    private static void checkServing(Group g, boolean forWrite) throws DeviceException {
        Group.State s = g.state;
        if (s == Group.State.SERVING || (s == Group.State.STALLED && !forWrite)) {
            return;
        }
        IoError err = s == Group.State.STALLED ? IoError.ENOSPC : IoError.EIO;
        throw new DeviceException(err, "group " + g.name + " is " + s.label + ": " + g.detail);
    }

    private static void checkRange(VolumeSlot slot, long offset, long length, IoError err) throws DeviceException {
        long size = slot.size;
        if (offset < 0 || length < 0 || offset + length > size || offset + length < 0) {
            throw new DeviceException(err, "request [" + offset + ", +" + length + ") is outside " + slot.name
                    + " (" + size + " bytes)");
        }
    }

    void read(VolumeSlot slot, long offset, ByteBuffer dst) throws IOException {
        enter(slot);
        try {
            checkServing(slot.group, false);
            checkRange(slot, offset, dst.remaining(), IoError.EINVAL);
            slot.volume.read(dst, offset);
        } finally {
            gate.exit();
        }
    }

    void readSnapshot(VolumeSlot slot, String snapshot, long offset, ByteBuffer dst) throws IOException {
        enter(slot);
        int len = dst.remaining();
        try {
            checkServing(slot.group, false);
            slot.locks.lock(offset, len);
            try {
                slot.volume.readSnapshot(snapshot, dst, offset);
            } finally {
                slot.locks.unlock(offset, len);
            }
        } finally {
            gate.exit();
        }
    }

    /**
     * A paired group whose pairs do not run (the difference-map service is absent or being
     * replaced) takes no host write: a sync peer would not get it, a replica would diverge.
     * The write waits for the pairs like any held I/O, then fails with EIO.
     */
    private void awaitPairsAttached(Group g) throws DeviceException {
        Replication r = replication;
        if (r == null || !r.pairsDetached(g)) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.ioHoldTimeoutMillis());
        while (r.pairsDetached(g)) {
            if (System.nanoTime() > deadline) {
                throw new DeviceException(IoError.EIO, "group " + g.name + " is paired, but its pairs are not running"
                        + " (is the difference-map service installed?); writes waited " + settings.ioHoldTimeoutMillis()
                        + " ms");
            }
            try {
                Thread.sleep(10); // rare: only while the map service is absent
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DeviceException(IoError.EIO, "interrupted while writes to group " + g.name + " were held");
            }
        }
    }

    /** After a restart, a write waits until each peer said whether this site still rules the pair (bounded). */
    private static void awaitReign(Group g) throws DeviceException {
        for (PrimaryPair p : g.primaries) {
            try {
                p.awaitReign();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DeviceException(IoError.EIO, "interrupted while a write to group " + g.name
                        + " waited for its peers' answer after the start");
            }
        }
    }

    /**
     * WRITE, TRIM and WRITE_ZEROES.
     *
     * @param data the bytes for WRITE, null for TRIM and ZERO
     */
    void write(VolumeSlot slot, RecordKind kind, long offset, long length, ByteBuffer data, boolean fua)
            throws IOException {
        enter(slot);
        try {
            Group g = slot.group;
            awaitPairsAttached(g);
            awaitReign(g);
            Position pos;
            slot.locks.lock(offset, length);
            try {
                checkServing(g, true);
                checkRange(slot, offset, length, IoError.ENOSPC);
                TargetPair target = g.target;
                if (target != null) {
                    throw new DeviceException(IoError.EPERM, "volume " + slot.name + " is a replica: group " + g.name
                            + " is the target of pair " + target.id + " from " + target.peer);
                }
                String refused = g.writesRefused;
                if (refused != null) {
                    throw new DeviceException(IoError.EPERM, "volume " + slot.name + ": " + refused);
                }
                Journal j = g.journal;
                try {
                    pos = append(g, j, kind, slot.id, offset, length, data);
                } catch (JournalFullException e) {
                    throw new DeviceException(IoError.ENOSPC, e.getMessage(), e);
                } catch (IOException e) {
                    throw deviceError("journaling a write to " + slot.name, e);
                }
                try {
                    j.activityLog().touch(slot.id, offset, length, pos.seq());
                    Volume v = slot.volume;
                    if (kind == RecordKind.WRITE) {
                        v.write(data.duplicate(), offset);
                    } else {
                        v.writeZeroes(offset, length);
                    }
                } catch (IOException | RuntimeException e) {
                    stall(g, slot, pos, e);
                    throw deviceError("writing volume " + slot.name + " (the write is journaled and will be retried)", e);
                }
                g.tracker.complete(pos);
            } finally {
                slot.locks.unlock(offset, length);
            }
            noteAppended(g, kind == RecordKind.WRITE ? length : 0);
            if (fua) {
                force(g, pos);
            }
            if (g.primaries.length > 0) {
                awaitPeers(g, pos, fua);
            }
        } finally {
            gate.exit();
        }
    }

    void flush(VolumeSlot slot) throws IOException {
        enter(slot);
        try {
            Group g = slot.group;
            checkServing(g, false);
            Journal j = g.journal;
            Position head = j.head();
            force(g, head);
            if (g.primaries.length > 0) {
                awaitPeers(g, head, true);
            }
        } finally {
            gate.exit();
        }
    }

    /**
     * Appends under the group's append lock and hands the record to every pair pushing live,
     * so that peers receive records in seq order.
     */
    private static Position append(Group g, Journal j, RecordKind kind, int volumeId, long offset, long length,
                                   ByteBuffer data) throws IOException {
        PrimaryPair[] pairs = g.primaries;
        if (pairs.length == 0) {
            return j.append(kind, volumeId, offset, length, data);
        }
        g.appendLock.lock();
        try {
            Position pos = j.append(kind, volumeId, offset, length, data);
            for (PrimaryPair p : g.primaries) {
                p.appended(pos, kind, volumeId, offset, length, data);
            }
            return pos;
        } finally {
            g.appendLock.unlock();
        }
    }

    private void awaitPeers(Group g, Position pos, boolean durable) throws IOException {
        Replication r = replication;
        if (r == null) {
            return;
        }
        try {
            r.awaitPeers(g, pos, durable, settings.ioHoldTimeoutMillis(), settings.copyModeHoldMillis());
        } catch (DeviceException e) {
            throw e;
        } catch (IOException e) {
            throw new DeviceException(IoError.EIO, e.getMessage(), e);
        }
    }

    private static void force(Group g, Position upTo) throws IOException {
        try {
            g.journal.force(upTo);
        } catch (IOException e) {
            throw deviceError("forcing the journal of group " + g.name, e);
        }
    }

    private static DeviceException deviceError(String what, Throwable e) {
        if (e instanceof DeviceException de) {
            return de;
        }
        String msg = e.getMessage() == null ? e.toString() : e.getMessage();
        IoError err = msg.contains("No space left") || e instanceof JournalFullException ? IoError.ENOSPC : IoError.EIO;
        return new DeviceException(err, what + " failed: " + msg, e);
    }

    // ---- a failed volume write: stall and retry -------------------------------------------

    private void stall(Group g, VolumeSlot slot, Position pos, Throwable cause) {
        boolean first;
        synchronized (g.pending) {
            first = g.pending.isEmpty();
            g.pending.put(pos.seq(), new Group.Pending(pos, slot.id, String.valueOf(cause.getMessage())));
            g.state(Group.State.STALLED, "writing volume " + slot.name + " failed (" + cause.getMessage()
                    + "); " + g.pending.size() + " journaled write(s) are retried every second; new writes are refused");
        }
        LOG.error("Group {}: volume write of record {} to {} failed; stalling new writes and retrying: {}",
                g.name, pos, slot.name, cause.getMessage());
        if (first) {
            executor.schedule(() -> retryPending(g), 1, TimeUnit.SECONDS);
        }
    }

    private void retryPending(Group g) {
        try {
            while (true) {
                Group.Pending p;
                synchronized (g.pending) {
                    if (g.pending.isEmpty()) {
                        if (g.state == Group.State.STALLED) {
                            g.state(Group.State.SERVING, null);
                            LOG.info("Group {}: every failed volume write was applied; serving again", g.name);
                        }
                        return;
                    }
                    p = g.pending.firstEntry().getValue();
                }
                reapply(g, p);
                synchronized (g.pending) {
                    g.pending.remove(p.position().seq());
                }
                g.tracker.complete(p.position());
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Group {}: retrying a failed volume write failed again: {}", g.name, e.getMessage());
            if (g.journal != null) {
                executor.schedule(() -> retryPending(g), 1, TimeUnit.SECONDS);
            }
        }
    }

    private void reapply(Group g, Group.Pending p) throws IOException {
        VolumeSlot slot = g.volumes.get(p.volumeId());
        Journal j = g.journal;
        if (slot == null || j == null || slot.volume == null) {
            throw new IOException(g.notAttached());
        }
        Position before = new Position(p.position().epoch(), p.position().seq() - 1);
        try (JournalReader rd = j.read(before, p.position())) {
            JournalRecord rec = rd.next();
            if (rec == null || rec.seq() != p.position().seq()) {
                throw new IOException("record " + p.position() + " is missing from the journal");
            }
            slot.locks.lock(rec.offset(), rec.length());
            try {
                apply(rec, slot);
            } finally {
                slot.locks.unlock(rec.offset(), rec.length());
            }
        }
    }

    // ---- checkpoints -----------------------------------------------------------------------

    /** Forces the group's volumes and records that they are durable through the applied watermark. */
    Position checkpoint(Group g) throws IOException {
        g.checkpointLock.lock();
        try {
            Journal j = g.journal;
            if (j == null) {
                throw new IOException(g.notAttached());
            }
            Position w = g.tracker.watermark();
            if (!w.isAfter(j.checkpoint())) {
                return j.checkpoint();
            }
            for (VolumeSlot s : g.volumes.values()) {
                Volume v = s.volume;
                if (v != null) {
                    v.force();
                }
            }
            j.checkpoint(w);
            return w;
        } finally {
            g.checkpointLock.unlock();
        }
    }

    /**
     * The journal is full: checkpoint as far as possible. Records already journaled finish
     * their volume writes without the append lock, so waiting briefly for them lets the
     * checkpoint pass the oldest segment instead of stopping just short of it.
     */
    private void reclaim(Group g, Journal j) throws IOException {
        Position head = j.head();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (g.tracker.watermark().isBefore(head) && g.pending.isEmpty() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(50_000);
        }
        // the journal holds its reclaim lock here, which a rebase holding the checkpoint lock
        // waits for: give way to it (the rebase checkpoints and empties the journal anyway)
        try {
            if (!g.checkpointLock.tryLock(100, TimeUnit.MILLISECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        try {
            checkpoint(g);
        } finally {
            g.checkpointLock.unlock();
        }
    }

    /**
     * Starts a checkpoint in the background once a quarter of the journal was written since the
     * last one, so that appends seldom find the journal full and wait for volume fsyncs.
     */
    private void noteAppended(Group g, long bytes) {
        if (g.sinceCheckpoint.addAndGet(bytes + 64) < g.checkpointEvery || !g.checkpointQueued.compareAndSet(false, true)) {
            return;
        }
        executor.execute(() -> {
            try {
                g.sinceCheckpoint.set(0);
                if (g.journal != null && g.state == Group.State.SERVING) {
                    checkpoint(g);
                }
            } catch (IOException | RuntimeException e) {
                LOG.warn("Group {}: background checkpoint failed: {}", g.name, e.getMessage());
            } finally {
                g.checkpointQueued.set(false);
            }
        });
    }

    private void periodicCheckpoint() {
        for (Group g : groups.values()) {
            if (g.state != Group.State.SERVING || g.journal == null) {
                continue;
            }
            try {
                checkpoint(g);
            } catch (IOException | RuntimeException e) {
                LOG.warn("Group {}: periodic checkpoint failed: {}", g.name, e.getMessage());
            }
        }
    }

    /** Waits (bounded) until every record through {@code upTo} is applied, then checkpoints. */
    private void checkpointThrough(Group g, Position upTo) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (g.tracker.watermark().isBefore(upTo)) {
            if (!g.pending.isEmpty()) {
                throw new IllegalStateException("group " + g.name + " is stalled: " + g.detail);
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("group " + g.name + ": writes before " + upTo + " did not finish within 10 s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000);
        }
        checkpoint(g);
    }

    // ---- DeviceProvider --------------------------------------------------------------------

    /** Right after start the volumes are known only once the engine attached: wait for that (bounded). */
    private void awaitAttached() throws IOException {
        if (gate.isOpen() || closed) {
            return;
        }
        try {
            if (gate.enter(TimeUnit.MILLISECONDS.toNanos(settings.ioHoldTimeoutMillis()))) {
                gate.exit();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the engine to attach");
        }
    }

    private VolumeSlot slot(String volume) {
        VolumeSlot s = slots.get(volume);
        if (s == null) {
            throw new IllegalArgumentException("volume " + volume + " does not exist");
        }
        return s;
    }

    @Override
    public BlockDevice open(String volume, boolean readOnly) throws IOException {
        awaitAttached();
        VolumeSlot s = dataSlot(volume);
        return new EngineDevice(this, s, readOnly);
    }

    /** A volume whose data is kept here: a journal-only group's volumes are names and sizes only. */
    private VolumeSlot dataSlot(String volume) {
        VolumeSlot s = slot(volume);
        if (s.group.journalOnly) {
            throw new IllegalStateException("volume " + volume + " belongs to journal-only group " + s.group.name
                    + ": this site keeps its journal, not its data");
        }
        return s;
    }

    @Override
    public BlockDevice openSnapshot(String volume, String snapshot) throws IOException {
        awaitAttached();
        VolumeSlot s = dataSlot(volume);
        Volume v = s.volume;
        if (v == null) {
            throw new DeviceException(IoError.EIO, "volume " + volume + " is not available: " + gate.reason());
        }
        SnapshotInfo info = v.snapshots().stream().filter(i -> i.name().equals(snapshot)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("volume " + volume + " has no snapshot " + snapshot));
        return new SnapshotDevice(this, s, info);
    }

    // ---- GroupService ----------------------------------------------------------------------

    private void requireAttached() {
        if (attachedVolumes == null) {
            throw new IllegalStateException("the engine is not serving: " + describeMissing());
        }
    }

    @Override
    public GroupInfo createGroup(String name, long journalCapacity) throws IOException {
        return createGroup(name, journalCapacity, false);
    }

    @Override
    public GroupInfo createGroup(String name, long journalCapacity, boolean journalOnly) throws IOException {
        synchronized (admin) {
            requireAttached();
            return info(createGroupLocked(name, journalCapacity, journalOnly));
        }
    }

    private Group createGroupLocked(String name, long journalCapacity) throws IOException {
        return createGroupLocked(name, journalCapacity, false);
    }

    private Group createGroupLocked(String name, long journalCapacity, boolean journalOnly) throws IOException {
        GroupRegistry.Entry e = registry.add(name, journalCapacity, journalOnly);
        Group g = new Group(e.name(), e.id(), e.journalCapacity(), e.journalOnly());
        groups.put(g.name, g);
        attachGroup(g, attachedVolumes, attachedJournals, List.of());
        return g;
    }

    @Override
    public List<GroupInfo> groups() {
        List<GroupInfo> out = new ArrayList<>();
        groups.values().stream().sorted(Comparator.comparing(g -> g.name)).forEach(g -> out.add(info(g)));
        return out;
    }

    @Override
    public Optional<GroupInfo> group(String name) {
        return Optional.ofNullable(groups.get(name)).map(this::info);
    }

    GroupInfo info(Group g) {
        Journal j = g.journal;
        Position head = j == null ? Position.ZERO : j.head();
        Position cp = j == null ? Position.ZERO : j.checkpoint();
        long capacity = j == null ? g.journalCapacity : j.status().capacityBytes();
        return new GroupInfo(g.name, g.id, g.volumeNames(), g.state.label, g.detail, head, g.tracker.watermark(), cp,
                capacity, g.journalOnly);
    }

    Map<String, Group> groupMap() {
        return groups;
    }

    IoGate gate() {
        return gate;
    }

    @Override
    public void deleteGroup(String name) throws IOException {
        synchronized (admin) {
            requireAttached();
            Group g = groups.get(name);
            if (g == null) {
                throw new IllegalArgumentException("group " + name + " does not exist");
            }
            if (!g.volumes.isEmpty()) {
                throw new IllegalStateException("group " + name + " still has volumes: " + String.join(", ", g.volumeNames()));
            }
            Journal j = g.journal;
            g.journal = null;
            if (j != null) {
                j.close();
            }
            attachedJournals.delete(name);
            registry.remove(name);
            groups.remove(name);
        }
    }

    @Override
    public VolumeInfo createVolume(String name, long size, String group) throws IOException {
        synchronized (admin) {
            requireAttached();
            return createVolumeLocked(name, size, group);
        }
    }

    private VolumeInfo createVolumeLocked(String name, long size, String group) throws IOException {
        Group g = groups.get(group);
        if (g == null) {
            throw new IllegalArgumentException("group " + group + " does not exist; create it with doppel:group-create");
        }
        if (g.journalOnly) {
            throw new IllegalStateException("group " + group + " is journal-only: it keeps no volume data; its volumes"
                    + " come from the pair whose target it is");
        }
        Replication r = replication;
        if (r != null && r.paired(g)) {
            throw new IllegalStateException("group " + group + " is paired; add volumes before pairing it (or delete the pair)");
        }
        VolumeInfo info = attachedVolumes.create(name, size, group);
        VolumeSlot slot = new VolumeSlot(info.name(), info.id(), g, info.size());
        slot.volume = attachedVolumes.open(info.name());
        slots.put(slot.name, slot);
        g.volumes.put(slot.id, slot);
        return info;
    }

    @Override
    public void deleteVolume(String name) throws IOException {
        synchronized (admin) {
            requireAttached();
            VolumeSlot slot = slot(name);
            Replication r = replication;
            if (r != null && r.paired(slot.group)) {
                throw new IllegalStateException("volume " + name + " is paired (group " + slot.group.name
                        + "); delete the pair first");
            }
            int open = slot.devices.get();
            if (open > 0) {
                throw new IllegalStateException("volume " + name + " is open by " + open + " connection(s)");
            }
            Group g = slot.group;
            slot.locks.lockAll();
            try {
                checkpointThrough(g, g.journal.head());
                Volume v = slot.volume;
                slot.volume = null;
                v.close();
                try {
                    attachedVolumes.delete(name);
                } catch (IOException | RuntimeException e) {
                    slot.volume = attachedVolumes.open(name);
                    throw e;
                }
                g.volumes.remove(slot.id);
                slots.remove(name);
            } finally {
                slot.locks.unlockAll();
            }
        }
    }

    @Override
    public VolumeInfo growVolume(String name, long newSize) throws IOException {
        synchronized (admin) {
            requireAttached();
            VolumeSlot slot = slot(name);
            if (newSize <= slot.size) {
                throw new IllegalArgumentException("volume " + name + " is " + slot.size + " bytes; the new size "
                        + newSize + " must be larger (volumes only grow)");
            }
            if (newSize % VolumeService.BLOCK_SIZE != 0) {
                throw new IllegalArgumentException("size " + newSize + " is not a multiple of " + VolumeService.BLOCK_SIZE);
            }
            Group g = slot.group;
            if (g.target != null) {
                throw new IllegalStateException("volume " + name + " is a replica; grow it at the primary");
            }
            Replication r = replication;
            if (r != null && g.primaries.length > 0) {
                r.resizeTargets(g, slot, newSize);
            }
            slot.locks.lockAll();
            Position pos;
            try {
                pos = append(g, g.journal, RecordKind.RESIZE, slot.id, newSize, 0, null);
                slot.volume.resize(newSize);
                slot.size = newSize;
                g.tracker.complete(pos);
            } finally {
                slot.locks.unlockAll();
            }
            g.journal.force(pos);
            return slot.volume.info();
        }
    }

    @Override
    public SnapshotInfo snapshot(String volume, String snapshot) throws IOException {
        synchronized (admin) {
            requireAttached();
            VolumeSlot slot = dataSlot(volume);
            slot.locks.lockAll();
            try {
                SnapshotInfo info = slot.volume.createSnapshot(snapshot);
                marker(slot.group, slot.id, "snapshot " + volume + "@" + snapshot);
                return info;
            } finally {
                slot.locks.unlockAll();
            }
        }
    }

    @Override
    public List<SnapshotInfo> snapshotGroup(String group, String snapshot) throws IOException {
        synchronized (admin) {
            requireAttached();
            Group g = groups.get(group);
            if (g == null) {
                throw new IllegalArgumentException("group " + group + " does not exist");
            }
            if (g.journalOnly) {
                throw new IllegalStateException("group " + group + " is journal-only: this site keeps its journal, not its"
                        + " data; snapshot a site that has the volumes");
            }
            List<VolumeSlot> members = new ArrayList<>(g.volumes.values());
            members.sort(Comparator.comparingInt(s -> s.id));
            for (VolumeSlot s : members) {
                s.locks.lockAll();
            }
            try {
                List<SnapshotInfo> out = new ArrayList<>();
                for (VolumeSlot s : members) {
                    out.add(s.volume.createSnapshot(snapshot));
                }
                marker(g, 0, "group snapshot " + group + "@" + snapshot);
                return out;
            } finally {
                for (int i = members.size() - 1; i >= 0; i--) {
                    members.get(i).locks.unlockAll();
                }
            }
        }
    }

    /** A MARKER in a group that is becoming a primary (its target end is still set): a takeover's first record. */
    void takeoverMarker(Group g, String text) throws IOException {
        ByteBuffer data = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        Position pos = append(g, g.journal, RecordKind.MARKER, 0, 0, data.remaining(), data);
        g.tracker.complete(pos);
        g.journal.force(pos);
    }

    /**
     * Keeps a copy's divergent blocks (written after its history parted from the new
     * primary's) as a snapshot of each volume, once; the position range goes to the log.
     */
    void keepDivergence(Group g, String name, Position fork, Position head) throws IOException {
        synchronized (admin) {
            for (VolumeSlot s : g.volumes.values()) {
                if (s.volume == null || s.volume.snapshots().stream().anyMatch(i -> i.name().equals(name))) {
                    continue;
                }
                s.locks.lockAll();
                try {
                    s.volume.createSnapshot(name);
                } finally {
                    s.locks.unlockAll();
                }
                LOG.warn("Volume {}: its blocks as they were after the fork point {} (through {}) are kept in snapshot {}",
                        s.name, fork, head, name);
            }
        }
    }

    private void marker(Group g, int volumeId, String text) throws IOException {
        if (g.target != null) {
            // a replica's journal holds its primary's records at the primary's positions only
            LOG.info("Group {} is a replica: {} is not journaled here", g.name, text);
            return;
        }
        ByteBuffer data = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        Position pos = append(g, g.journal, RecordKind.MARKER, volumeId, 0, data.remaining(), data);
        g.tracker.complete(pos);
        g.journal.force(pos);
    }

    @Override
    public void rollback(String volume, String snapshot) throws IOException {
        synchronized (admin) {
            requireAttached();
            VolumeSlot slot = dataSlot(volume);
            if (slot.group.target != null) {
                throw new IllegalStateException("volume " + volume + " is a replica of a pair's primary; roll back"
                        + " at the primary, or delete the pair first");
            }
            int writers = slot.writers.get();
            if (writers > 0) {
                throw new IllegalStateException("volume " + volume + " is open read-write by " + writers
                        + " connection(s); disconnect them (or remove the export) before rolling back");
            }
            Group g = slot.group;
            slot.locks.lockAll();
            try {
                // Redo must never replay records older than the rollback over its result.
                checkpointThrough(g, g.journal.head());
                slot.volume.rollback(snapshot);
                slot.size = slot.volume.size();
                marker(g, slot.id, "rollback " + volume + " to " + snapshot);
            } finally {
                slot.locks.unlockAll();
            }
        }
    }

    @Override
    public Position checkpoint(String group) throws IOException {
        Group g = groups.get(group);
        if (g == null) {
            throw new IllegalArgumentException("group " + group + " does not exist");
        }
        return checkpoint(g);
    }

    EngineStatus.Status status(List<String> configProblems) {
        boolean vs;
        boolean js;
        synchronized (admin) {
            vs = volumeService != null;
            js = journalService != null;
        }
        return new EngineStatus.Status(site.id(), site.name(), settings.home().toString(), gate.isOpen(), gate.reason(),
                vs, js, groups(), configProblems == null ? List.of() : configProblems);
    }

    Path home() {
        return settings.home();
    }

    // ---- for replication --------------------------------------------------------------------

    void gateEnter(VolumeSlot slot) throws IOException {
        long timeout = TimeUnit.MILLISECONDS.toNanos(settings.ioHoldTimeoutMillis());
        try {
            if (!gate.enter(timeout)) {
                throw new IOException("I/O held for " + settings.ioHoldTimeoutMillis() + " ms: " + gate.reason());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while I/O was held");
        }
    }

    void gateExit() {
        gate.exit();
    }

    void checkpointGroup(Group g) throws IOException {
        checkpoint(g);
    }

    /** The group a primary's pair targets here, made if absent. */
    Group targetGroup(String name) throws IOException {
        synchronized (admin) {
            requireAttached();
            Group g = groups.get(name);
            return g != null ? g : createGroupLocked(name, 0);
        }
    }

    /** The volume a primary's volume is copied to here: made if absent, refused if its size differs. */
    VolumeSlot targetVolume(Group g, String name, long size) throws IOException {
        synchronized (admin) {
            requireAttached();
            VolumeSlot s = slots.get(name);
            if (s == null) {
                VolumeInfo info = attachedVolumes.create(name, size, g.name);
                s = new VolumeSlot(info.name(), info.id(), g, info.size());
                s.volume = attachedVolumes.open(info.name());
                slots.put(s.name, s);
                g.volumes.put(s.id, s);
                LOG.info("Created target volume {} ({} bytes) in group {}", name, size, g.name);
                return s;
            }
            if (s.group != g) {
                throw new IOException("target volume " + name + " exists here in group " + s.group.name + ", not " + g.name);
            }
            if (s.size != size) {
                throw new IOException("target volume " + name + " is " + s.size + " bytes here; the source's is " + size
                        + " bytes");
            }
            return s;
        }
    }

    void growTarget(VolumeSlot slot, long size) throws IOException {
        synchronized (admin) {
            if (size < slot.size) {
                throw new IOException("target volume " + slot.name + " is " + slot.size + " bytes; it cannot shrink to " + size);
            }
            if (size > slot.size) {
                slot.locks.lockAll();
                try {
                    slot.volume.resize(size);
                    slot.size = size;
                } finally {
                    slot.locks.unlockAll();
                }
            }
        }
    }

    /** Keeps the last consistent image of a target's volumes while a resync makes them inconsistent. */
    void resyncSnapshots(Group g, String name) throws IOException {
        if (g.journalOnly) {
            return; // no image here to keep
        }
        synchronized (admin) {
            for (VolumeSlot s : g.volumes.values()) {
                if (s.volume.snapshots().stream().anyMatch(i -> i.name().equals(name))) {
                    s.volume.deleteSnapshot(name);
                }
                s.locks.lockAll();
                try {
                    s.volume.createSnapshot(name);
                } finally {
                    s.locks.unlockAll();
                }
            }
        }
    }

    void dropResyncSnapshots(Group g, String name) throws IOException {
        synchronized (admin) {
            for (VolumeSlot s : g.volumes.values()) {
                if (s.volume != null && s.volume.snapshots().stream().anyMatch(i -> i.name().equals(name))) {
                    s.volume.deleteSnapshot(name);
                }
            }
        }
    }

    Storage storage() {
        return storage;
    }
}
