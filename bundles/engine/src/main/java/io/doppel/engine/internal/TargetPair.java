package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.copy.ApplyObservation;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalFullException;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.pair.PairInfo;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.volume.VolumeService;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The target end of a pair. Records arrive (pushed by the primary, or pulled here) with the
 * primary's positions and go into this site's journal, with volume ids translated to this
 * site's; an applier applies them to the volumes strictly in seq order, paced by the copy
 * mode from this site's load. During a resync pass blocks arrive tagged with the primary's
 * head when they were read: a block to which a newer record was already applied keeps it.
 * The volumes are a consistent image once everything through the pass's end is applied.
 */
final class TargetPair {

    private static final Logger LOG = LoggerFactory.getLogger(TargetPair.class);
    /** How long a rebase waits for the records already held to be applied. */
    static final long REBASE_APPLY_MILLIS = 600_000;
    /** A pull reads up to its byte limit from the primary's journal, which may be cold on disk. */
    private static final long PULL_MILLIS = 60_000;
    /** How long a full journal may delay an answer: below the primary's request timeout (30 s). */
    private static final long FULL_WAIT_NANOS = TimeUnit.SECONDS.toNanos(25);

    final Replication repl;
    final Group group;
    final String id;
    final String peer;
    volatile PairStore.PairRecord rec;

    /** Frames of this pair are handled one after another, in arrival order. */
    private final ExecutorService serial;
    private volatile boolean stopped;
    private volatile Thread applier;
    private volatile Thread puller;
    private final Object applyWake = new Object();
    /** Held while applying a batch, and by a rebase (which must not race the applier). */
    /** Held while records are applied (a test holds it to make the applier lag). */
    final ReentrantLock applyLock = new ReentrantLock();
    /** Answers a full journal delayed. */
    final java.util.concurrent.atomic.AtomicLong fullDelays = new java.util.concurrent.atomic.AtomicLong();

    /** Source volume id to this site's slot, from the last OPEN. */
    private volatile Map<Integer, VolumeSlot> volumes = Map.of();
    /** An OPEN was answered since this end started: pulled records can be translated. */
    private volatile boolean opened;
    /** During a resync pass: the seq of the last record applied to each block ((volume << 32) | block). */
    private Map<Long, Long> lastApplied;
    private volatile String state = "waiting-for-primary";
    private volatile String detail = "";
    private volatile Instant since = Instant.now();
    private volatile long pullDelay;
    /**
     * Rebases so far; written on the pair's serial executor, where a pull's records are appended
     * too. A pull reads it before it reads the head it asks from.
     */
    private volatile long rebases;
    private volatile String pullReason = "";
    private volatile long primaryUsed;
    private volatile long primaryCapacity;
    private volatile Position primaryHead = Position.ZERO;
    private volatile double primaryLoad;
    /** Records the primary appended between the last two pulls. */
    private volatile long primaryAppended;
    private final PrimaryPair.Rate rate = new PrimaryPair.Rate();
    /** The primary's epochs, from its last OPEN: a rebase makes them this journal's. */
    private volatile List<EpochEntry> primaryHistory;
    /** The primary's head at its last OPEN: an Outdated copy lacks at least what lies between its own head and this. */
    private volatile Position openedHead = Position.ZERO;
    /** Both sites wrote after the fork (last OPEN): no pass is taken until the operator resolves it. */
    private volatile boolean splitBrain;
    /** The operator resolved a split-brain keeping the primary's side: this site's divergence is given up. */
    volatile boolean discardDivergence;

    boolean splitBrain() {
        return splitBrain;
    }

    /** The primary's epochs from its last OPEN (empty before one). */
    Position primaryHeadAtOpen() {
        return openedHead;
    }

    List<EpochEntry> primaryHistory() {
        List<EpochEntry> h = primaryHistory;
        return h == null ? List.of() : h;
    }
    /** Journal-only: the pairs from this group that the source's current pass is relayed to. */
    private List<PrimaryPair> relayTo = List.of();

    TargetPair(Replication repl, Group group, PairStore.PairRecord rec) {
        this.repl = repl;
        this.group = group;
        this.id = rec.id();
        this.peer = rec.peer();
        this.rec = rec;
        this.serial = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "doppel-target-" + group.name);
            t.setDaemon(true);
            return t;
        });
    }

    void start() {
        stopped = false;
        Thread a = new Thread(this::applyLoop, "doppel-apply-" + group.name);
        a.setDaemon(true);
        applier = a;
        a.start();
        Thread p = new Thread(this::pullLoop, "doppel-pull-" + group.name);
        p.setDaemon(true);
        puller = p;
        p.start();
    }

    /**
     * Stops the puller and the applier. Only the puller is interrupted: it does no file I/O,
     * while an interrupt during the applier's FileChannel I/O would close the volume or journal
     * file for every user of it. The applier sees {@code stopped} when woken.
     */
    void stop() {
        stopped = true;
        synchronized (applyWake) {
            applyWake.notifyAll();
        }
        Thread p = puller;
        if (p != null) {
            p.interrupt();
        }
        for (Thread t : new Thread[] {applier, puller}) {
            if (t != null && t != Thread.currentThread()) {
                try {
                    t.join(10_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** Stops, then lets the serial executor finish its frame (no interrupt, for the same reason). */
    void shutdown() {
        stop();
        serial.shutdown();
        try {
            if (!serial.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("Pair {}: a message of {} still runs after 10 s; leaving it to finish", id, peer);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void state(String s, String why) {
        if (!s.equals(state) || !why.equals(detail)) {
            state = s;
            detail = why;
            since = Instant.now();
            LOG.info("Pair {} ({} from {}): {}{}", id, group.name, peer, s, why.isEmpty() ? "" : " (" + why + ")");
        }
    }

    /** Runs a frame's work after the frames before it. */
    CompletableFuture<Frame> inOrder(java.util.concurrent.Callable<Frame> work) {
        CompletableFuture<Frame> f = new CompletableFuture<>();
        serial.execute(() -> {
            try {
                f.complete(work.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    private Journal journal() throws IOException {
        Journal j = group.journal;
        if (j == null) {
            throw new IOException(group.notAttached());
        }
        return j;
    }

    /** Whether the volumes hold a consistent image of the source (no resync under way). */
    boolean consistent() {
        return rec.consistent();
    }

    Wire.Ack ack() throws IOException {
        Journal j = journal();
        return new Wire.Ack(j.head(), j.durable(), group.tracker.watermark(), rec.consistent(), rec.outdated());
    }

    /** Waits until every record held is applied (a takeover serves the image of its last record). */
    void awaitApplied(long millis) throws IOException, InterruptedException {
        Journal j = journal();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (group.tracker.watermark().isBefore(j.head())) {
            synchronized (applyWake) {
                applyWake.notifyAll();
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("records through " + j.head() + " were not applied within " + millis + " ms (applied "
                        + group.tracker.watermark() + ")");
            }
            Thread.sleep(5);
        }
    }

    // ---- OPEN ---------------------------------------------------------------------------------

    /**
     * Checks (or creates) the target volumes; answers with the journal head, whether it
     * continues the primary's, and where this copy's history parts from the primary's (with
     * the blocks this site wrote or lacks after that point).
     */
    Frame open(Wire.Open o) throws IOException {
        Map<Integer, VolumeSlot> map = new HashMap<>();
        for (Wire.OpenVolume v : o.volumes()) {
            map.put(v.sourceId(), repl.engine().targetVolume(group, v.name(), v.size()));
        }
        volumes = Map.copyOf(map);
        opened = true;
        primaryHistory = o.history();
        openedHead = o.head();
        // before the record takes the primary's flags: a former primary's mark says it went on alone
        Divergence d = divergence(o);
        splitBrain = d != null && d.splitBrain();
        if (!o.mode().equals(rec.mode()) || !o.policy().equals(rec.policy()) || o.outdated() != rec.outdated()) {
            rec = repl.store().update(id, r -> r.withMode(o.mode(), o.policy()).withOutdated(o.outdated()));
        }
        if (d != null && d.splitBrain()) {
            state("split-brain", d.describe());
        } else if (d != null) {
            state("diverged", d.describe() + "; the primary copies those blocks back");
        } else {
            state(rec.consistent() ? "connected" : "inconsistent", rec.consistent() ? "" : "waiting for a resync pass");
        }
        Wire.Ack a = ack();
        boolean continues = rec.fullCopyDone();
        Wire.Out out = new Wire.Out(Wire.REPLY, id, 128).putPosition(a.journaled()).putPosition(a.durable())
                .putPosition(a.applied()).putBoolean(a.consistent()).putBoolean(a.outdated()).putBoolean(continues)
                .putBoolean(d != null);
        if (d != null) {
            d.put(out);
        }
        return out.frame();
    }

    // ---- where this copy parted from the primary (failback, split-brain) -----------------------

    /**
     * What this site holds that the primary's history does not: the records after the fork
     * point, and the map it kept as the pair's primary (its not-copied updates and the hot
     * extents of its last unclean stop). Null when nothing diverges.
     *
     * @param ownEpoch an epoch this site opened itself with records after the fork: it wrote
     *                 in its own reign, so both sides did (split-brain)
     */
    record Divergence(Position fork, Position head, long records, List<long[]> runs, long blocks,
                      EpochEntry ownEpoch, boolean wroteAlone) {

        boolean splitBrain() {
            return ownEpoch != null || wroteAlone;
        }

        String describe() {
            return splitBrain()
                    ? "both sites wrote after " + fork + ": this site " + (ownEpoch != null ? "in its own epoch "
                            + ownEpoch.epoch() : "as a sync primary that went on without its peer") + " (" + records
                            + " records through " + head + ", " + blocks + " blocks); resolve with doppel:resolve"
                    : "this site holds " + records + " records after the fork point " + fork + " (through " + head + ") and "
                            + blocks + " blocks in all that differ";
        }

        void put(Wire.Out out) {
            out.putPosition(fork).putPosition(head).putLong(records).putBoolean(splitBrain())
                    .putLong(ownEpoch != null ? ownEpoch.epoch() : fork.epoch()).putInt(runs.size());
            for (long[] r : runs) {
                out.putInt((int) r[0]).putLong(r[1]).putLong(r[2]);
            }
        }
    }

    private Divergence divergence(Wire.Open o) throws IOException {
        Journal j = journal();
        Position head = j.head();
        List<EpochEntry> mine = j.history();
        Position fork = ForkPoint.of(mine, head, o.history(), o.head());
        boolean leftover = repl.maps() != null && repl.maps().list().contains(id);
        if (!head.isAfter(fork) && !leftover) {
            return null;
        }
        // blocks by this site's volume id, then translated to the primary's
        Map<Integer, Integer> toSource = new HashMap<>();
        volumes.forEach((sourceId, slot) -> toSource.put(slot.id, sourceId));
        TreeMap<Integer, BitSet> blocks = new TreeMap<>();
        long records = 0;
        boolean wroteBlocks = false;
        Position from = Position.max(fork, j.retainedStart());
        if (head.isAfter(from)) {
            try (JournalReader r = j.read(from, head)) {
                for (JournalRecord x = r.next(); x != null; x = r.next()) {
                    records++;
                    if (x.touchesBlocks()) {
                        wroteBlocks = true;
                        long first = x.offset() / VolumeService.BLOCK_SIZE;
                        long last = (x.offset() + Math.max(1, x.length()) - 1) / VolumeService.BLOCK_SIZE;
                        blocks.computeIfAbsent(x.volumeId(), k -> new BitSet()).set((int) first, (int) last + 1);
                    }
                }
            }
        }
        if (leftover) {
            DifferenceMap m = repl.maps().open(id);
            for (int v : m.volumes()) {
                BitSet bs = blocks.computeIfAbsent(v, k -> new BitSet());
                m.forEachRun(v, (first, count) -> bs.set((int) first, (int) (first + count)));
            }
        }
        List<long[]> runs = new ArrayList<>();
        long n = 0;
        for (Map.Entry<Integer, BitSet> e : blocks.entrySet()) {
            Integer source = toSource.get(e.getKey());
            if (source == null) {
                continue; // a volume the primary does not pair (deleted there)
            }
            BitSet bs = e.getValue();
            for (int b = bs.nextSetBit(0); b >= 0; ) {
                int end = bs.nextClearBit(b);
                runs.add(new long[] {source, b, end - b});
                n += end - b;
                b = bs.nextSetBit(end);
            }
        }
        boolean resolved = discardDivergence || o.keepPrimary();
        // an epoch of its own counts only with blocks written in it: a takeover killed before it
        // took the role leaves its epoch and marker behind, and no write of its own
        EpochEntry own = resolved || !wroteBlocks ? null : ForkPoint.ownEpochAfter(mine, head, fork, repl.siteId());
        // a sync primary acknowledges a write only once its peer has it, unless it marked the peer
        // Outdated and went on alone: then its records after the fork are writes of its own
        boolean alone = !resolved && leftover && rec.outdated() && "sync".equals(rec.mode()) && records > 0;
        Divergence d = new Divergence(fork, head, records, List.copyOf(runs), n, own, alone);
        if (n == 0 && !d.splitBrain()) {
            return null;
        }
        if (resolved) {
            LOG.warn("Pair {}: the split-brain with {} is resolved keeping {}'s side: this site's {} divergent blocks are kept"
                    + " in snapshot {} and copied over", id, peer, peer, n, divergedSnapshot(fork));
        }
        if (!d.splitBrain() && rec.consistent()) {
            // the blocks this site wrote that the primary never had stay readable for the operator
            repl.engine().keepDivergence(group, divergedSnapshot(fork), fork, head);
        }
        LOG.warn("Pair {}: {} parts from {}'s history at {}: {}", id, group.name, peer, fork, d.describe());
        return d;
    }

    /** The snapshot that keeps this site's divergent blocks: named after the fork point. */
    static String divergedSnapshot(Position fork) {
        return "diverged-" + fork.epoch() + "-" + fork.seq();
    }

    // ---- records ------------------------------------------------------------------------------

    private JournalRecord translate(JournalRecord r) throws IOException {
        if (!r.touchesBlocks() && r.kind() != RecordKind.RESIZE && r.volumeId() == 0) {
            return r;
        }
        VolumeSlot s = volumes.get(r.volumeId());
        if (s == null) {
            if (r.kind() == RecordKind.MARKER || r.kind() == RecordKind.FLUSH) {
                return new JournalRecord(group.id, r.position(), 0, r.offset(), r.length(), r.kind(), r.time(), r.data());
            }
            throw new IOException("record " + r.position() + " names source volume " + r.volumeId()
                    + ", which is not paired with a volume here");
        }
        return new JournalRecord(group.id, r.position(), s.id, r.offset(), r.length(), r.kind(), r.time(), r.data());
    }

    /** Appends records with the primary's positions; records already held are skipped. */
    void appendAll(List<JournalRecord> records) throws IOException {
        Journal j = journal();
        long bytes = 0;
        for (JournalRecord r : records) {
            if (!r.position().isAfter(j.head())) {
                continue; // resent after a reconnect
            }
            JournalRecord local = translate(r);
            appendWaitingForSpace(j, local);
            bytes += r.length();
        }
        rate.add(bytes);
        synchronized (applyWake) {
            applyWake.notifyAll();
        }
    }

    /**
     * A full journal delays the answer (the primary's writes wait, or time out into its lost-peer
     * policy) until applying and a checkpoint release space; records are never dropped.
     */
    private void appendWaitingForSpace(Journal j, JournalRecord local) throws IOException {
        long deadline = System.nanoTime() + FULL_WAIT_NANOS;
        boolean logged = false;
        while (true) {
            repl.engine().gateEnter(null);
            try {
                j.appendReplicated(local);
                if (logged) {
                    LOG.info("Pair {}: journal of {} has room again; answering {}", id, group.name, local.position());
                }
                return;
            } catch (JournalFullException e) {
                if (!logged) {
                    fullDelays.incrementAndGet();
                    LOG.warn("Pair {}: journal of {} is full; delaying the answer to {} until {}", id, group.name, peer,
                            group.journalOnly ? "the pairs from it take the records it keeps for them (it never folds)"
                                    : "records are applied");
                    logged = true;
                }
            } finally {
                repl.engine().gateExit();
            }
            if (System.nanoTime() > deadline || stopped) {
                throw new JournalFullException("the journal of group " + group.name + " at " + repl.siteId()
                        + " stayed full for " + TimeUnit.NANOSECONDS.toSeconds(FULL_WAIT_NANOS) + " s");
            }
            synchronized (applyWake) {
                applyWake.notifyAll();
            }
            if (stopped) {
                throw new IOException("pair " + id + " stopped while the journal of group " + group.name + " was full");
            }
            if (!group.tracker.watermark().isBefore(j.head())) {
                repl.engine().checkpointGroup(group);
            } else {
                try {
                    Thread.sleep(5); // the applier is behind; it releases space as it goes
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for journal space");
                }
            }
        }
    }

    Frame push(Wire.In in) throws IOException {
        appendAll(in.getRecords(group.id));
        return ack().frame(id);
    }

    Frame force(Wire.In in) throws IOException {
        Position pos = in.getPosition();
        Journal j = journal();
        j.force(Position.min(pos, j.head()));
        return ack().frame(id);
    }

    // ---- applying -----------------------------------------------------------------------------

    private void applyLoop() {
        while (!stopped) {
            try {
                Journal j = group.journal;
                if (j == null || group.state != Group.State.SERVING) {
                    sleepOrWake(100);
                    continue;
                }
                Position head = j.head();
                Position done = group.tracker.watermark();
                if (!done.isBefore(head)) {
                    checkConsistent(done);
                    sleepOrWake(100);
                    continue;
                }
                int budget = budget(j, head.seq() - done.seq());
                if (budget <= 0) {
                    sleepOrWake(5);
                    continue;
                }
                // Volumes never get ahead of what the journal keeps after a power cut: otherwise
                // unforced volume pages of records the journal then lost could reach the disk,
                // and the replica would not be the image of a prefix of the primary's writes.
                if (j.durable().isBefore(head)) {
                    j.force(head);
                }
                applyBatch(j, done, head, budget);
                checkConsistent(group.tracker.watermark()); // also under a load that never lets it idle
            } catch (InterruptedException e) {
                if (stopped) {
                    return;
                }
            } catch (Exception e) {
                if (stopped) {
                    return;
                }
                LOG.warn("Pair {}: applying records to {} failed; retrying: {}", id, group.name, e.getMessage());
                try {
                    sleepOrWake(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private int budget(Journal j, long pending) {
        CopyMode mode = repl.mode(rec.mode());
        if (mode == null) {
            return 1024;
        }
        JournalStatus st = j.status();
        return mode.applyBudget(new ApplyObservation(pending, repl.load().otherLoad(), st.capacityBytes() - st.usedBytes(),
                st.capacityBytes()));
    }

    private void applyBatch(Journal j, Position after, Position head, int budget) throws Exception {
        applyLock.lock();
        repl.engine().gateEnter(null);
        try {
            if (!group.tracker.watermark().equals(after)) {
                return; // a rebase moved the start
            }
            int n = 0;
            try (JournalReader r = j.read(after, head)) {
                for (JournalRecord rec = r.next(); rec != null && n < budget; rec = r.next()) {
                    // a journal-only group keeps records for its peers (its cursors hold them) and
                    // has no data to apply them to
                    VolumeSlot slot = group.journalOnly ? null : group.volumes.get(rec.volumeId());
                    if (slot != null) {
                        if (rec.touchesBlocks()) {
                            slot.locks.lock(rec.offset(), rec.length());
                            try {
                                Engine.apply(rec, slot);
                                noteApplied(rec);
                            } finally {
                                slot.locks.unlock(rec.offset(), rec.length());
                            }
                        } else {
                            Engine.apply(rec, slot);
                        }
                    }
                    group.tracker.complete(rec.position());
                    n++;
                }
            }
        } finally {
            repl.engine().gateExit();
            applyLock.unlock();
        }
    }

    private void noteApplied(JournalRecord r) {
        Map<Long, Long> m = lastApplied;
        if (m == null) {
            return;
        }
        long first = r.offset() / VolumeService.BLOCK_SIZE;
        long last = (r.offset() + Math.max(1, r.length()) - 1) / VolumeService.BLOCK_SIZE;
        synchronized (m) {
            for (long b = first; b <= last; b++) {
                m.put(((long) r.volumeId() << 32) | b, r.seq());
            }
        }
    }

    private void sleepOrWake(long millis) throws InterruptedException {
        synchronized (applyWake) {
            applyWake.wait(millis);
        }
    }

    private void checkConsistent(Position done) {
        Position end = rec.resyncEnd();
        if (!rec.consistent() && rec.fullCopyDone() && !end.equals(Position.ZERO) && !done.isBefore(end)) {
            becomeConsistent(done);
        }
    }

    /**
     * Records that the volumes are consistent (the pass and the records through its end are
     * applied); false when that failed (it is retried on the next idle round).
     */
    private boolean becomeConsistent(Position done) {
        try {
            repl.engine().checkpointGroup(group);
            rec = repl.store().update(id, r -> r.withConsistent(true, Position.ZERO));
            lastApplied = null;
            repl.engine().dropResyncSnapshots(group, snapshotName());
            state("consistent", "");
            LOG.info("Pair {}: {} is consistent again at {}", id, group.name, done);
            return true;
        } catch (IOException | RuntimeException e) {
            if (!stopped) {
                LOG.warn("Pair {}: recording consistency failed; retried on the next idle round: {}", id,
                        PrimaryPair.rootMessage(e));
            }
            return false;
        }
    }

    String snapshotName() {
        return "resync-" + id;
    }

    // ---- resync -------------------------------------------------------------------------------

    Frame resyncBegin(Wire.In in) throws Exception {
        Position start = in.getPosition();
        boolean rebase = in.getBoolean();
        long blocks = in.getLong();
        boolean whole = in.hasMore() && in.getBoolean();
        if (splitBrain) {
            throw new IOException("group " + group.name + " here and " + peer + " both wrote after their histories parted"
                    + " (split-brain): nothing is copied until doppel:resolve");
        }
        if (group.journalOnly) {
            return relayBegin(start, rebase, whole, blocks);
        }
        for (PrimaryPair p : group.primaries) {
            p.sourceResyncBegins(); // a cascade's pass from these volumes must not end on this image
        }
        if (rec.consistent()) {
            // Keep the last consistent image until the pass makes the volumes consistent again.
            repl.engine().resyncSnapshots(group, snapshotName());
        }
        rec = repl.store().update(id, r -> r.withConsistent(false, Position.ZERO));
        lastApplied = new HashMap<>();
        if (rebase) {
            rebaseTo(start);
            rec = repl.store().update(id, PairStore.PairRecord::withFullCopyDone);
        }
        state("resyncing", blocks + " blocks to receive");
        return ack().frame(id);
    }

    /** Applies everything held, checkpoints, and restarts the journal at the primary's position. */
    private void rebaseTo(Position start) throws Exception {
        Journal j = journal();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(REBASE_APPLY_MILLIS);
        while (group.tracker.watermark().isBefore(j.head())) {
            synchronized (applyWake) {
                applyWake.notifyAll();
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("records before " + j.head() + " were not applied in time for a resync");
            }
            if (stopped) {
                throw new IOException("pair " + id + " stopped before a resync could begin");
            }
            Thread.sleep(5);
        }
        applyLock.lock();
        try {
            // under the checkpoint lock: a periodic checkpoint must not read the old watermark and
            // then find the journal rebased below it
            group.checkpointLock.lock();
            try {
                repl.engine().checkpointGroup(group);
                for (PrimaryPair p : group.primaries) {
                    p.sourceRebasing(j); // a cascade's cursor must be at the head, its records in its map
                }
                List<EpochEntry> h = primaryHistory;
                if (h == null || h.isEmpty()) {
                    j.rebase(start);
                } else {
                    j.rebase(start, h); // this copy follows the primary's history from here on
                }
                group.tracker = new AppliedTracker(start);
                rebases++;
                if (repl.maps() != null && repl.maps().list().contains(id)) {
                    // the map this site kept as the pair's primary: its blocks are in this pass
                    repl.maps().delete(id);
                }
            } finally {
                group.checkpointLock.unlock();
            }
        } finally {
            applyLock.unlock();
        }
        LOG.info("Pair {}: {} restarts its journal at the primary's {}", id, group.name, start);
    }

    Frame resyncData(Wire.In in) throws Exception {
        long bytes = 0;
        List<Wire.Blocks> relayed = new ArrayList<>();
        int relayedBytes = 0;
        while (in.hasMore()) {
            Wire.Blocks b = Wire.Blocks.read(in);
            VolumeSlot slot = volumes.get(b.volumeId());
            if (slot == null) {
                throw new IOException("resync data for source volume " + b.volumeId() + ", which is not paired here");
            }
            if (group.journalOnly) {
                relayed.add(b.withVolume(slot.id));
                relayedBytes += b.bytes();
            } else {
                writeBlocks(slot, b.first(), b.count(), b.tag(), b.data());
                for (PrimaryPair p : group.primaries) {
                    p.sourceWroteBlocks(slot.id, b.first(), b.count()); // not journaled here: a cascade copies them
                }
            }
            bytes += (long) b.count() * VolumeService.BLOCK_SIZE;
        }
        for (PrimaryPair p : relayTo) {
            p.relayData(relayed, relayedBytes);
        }
        rate.add(bytes);
        return ack().frame(id);
    }

    /** Writes resync blocks, skipping each block to which a record newer than the tag was applied. */
    private void writeBlocks(VolumeSlot slot, long first, int count, Position tag, ByteBuffer data) throws IOException {
        long offset = first * VolumeService.BLOCK_SIZE;
        int len = count * VolumeService.BLOCK_SIZE;
        repl.engine().gateEnter(slot);
        try {
            slot.locks.lock(offset, len);
            try {
                Map<Long, Long> m = lastApplied;
                for (int i = 0; i < count; i++) {
                    long block = first + i;
                    if (m != null) {
                        Long seq;
                        synchronized (m) {
                            seq = m.get(((long) slot.id << 32) | block);
                        }
                        if (seq != null && seq > tag.seq()) {
                            continue; // a newer record already reached this block
                        }
                    }
                    long off = block * VolumeService.BLOCK_SIZE;
                    if (data == null) {
                        slot.volume.writeZeroes(off, VolumeService.BLOCK_SIZE);
                    } else {
                        ByteBuffer b = data.duplicate();
                        b.position(i * VolumeService.BLOCK_SIZE).limit((i + 1) * VolumeService.BLOCK_SIZE);
                        slot.volume.write(b, off);
                    }
                }
            } finally {
                slot.locks.unlock(offset, len);
            }
        } finally {
            repl.engine().gateExit();
        }
    }

    /**
     * RESYNC_MARK: the blocks copied so far become durable here, so the primary may forget them
     * (a pass broken after this resumes from what is left). A journal-only site keeps no blocks:
     * it says so, and its source forgets them only at the pass's end, once every peer has them.
     */
    Frame resyncMark(Wire.In in) throws Exception {
        boolean kept = !group.journalOnly;
        if (kept) {
            for (VolumeSlot s : group.volumes.values()) {
                s.volume.force();
            }
        }
        return ack().out(id).putBoolean(kept).frame();
    }

    Frame resyncEnd(Wire.In in) throws Exception {
        Position end = in.getPosition();
        if (group.journalOnly) {
            // the source forgets the pass's blocks once this is answered: every peer has them first
            List<PrimaryPair> to = relayTo;
            relayTo = List.of();
            int ended = 0;
            try {
                for (PrimaryPair p : to) {
                    p.relayEnd(end);
                    ended++;
                }
            } finally {
                for (PrimaryPair p : to.subList(ended, to.size())) {
                    p.relayAbort();
                }
            }
        }
        // the copied blocks are durable before the primary forgets them (a checkpoint forces
        // nothing when no record was applied since the last one)
        for (VolumeSlot s : group.volumes.values()) {
            s.volume.force();
        }
        repl.engine().checkpointGroup(group);
        for (PrimaryPair p : group.primaries) {
            p.sourceResyncEnds();
        }
        rec = repl.store().update(id, r -> r.withConsistent(false, end));
        if (end.equals(Position.ZERO)) {
            // the source never journaled a record: the copied blocks are the whole image (the
            // zero end cannot be recorded as one to wait for)
            if (!becomeConsistent(end)) {
                throw new IOException("recording that " + group.name + " is consistent failed (see the log)");
            }
            return ack().frame(id);
        }
        state("resyncing", "consistent once records through " + end + " are applied");
        synchronized (applyWake) {
            applyWake.notifyAll();
        }
        return ack().frame(id);
    }

    /**
     * Journal-only: the source's pass goes on to this group's own peers (those that need a whole
     * copy get only a whole pass). A peer that cannot take it fails the pass, which the source
     * redoes later: its map is cleared only once RESYNC_END is answered.
     */
    private Frame relayBegin(Position start, boolean rebase, boolean whole, long blocks) throws Exception {
        Journal j = journal();
        for (PrimaryPair p : relayTo) {
            p.relayAbort(); // a pass the source gave up on
        }
        relayTo = List.of();
        List<PrimaryPair> to = new ArrayList<>();
        try {
            for (PrimaryPair p : group.primaries) {
                if (p.relayBegin(j, start, rebase, whole, blocks)) {
                    to.add(p);
                }
            }
        } catch (Exception e) {
            for (PrimaryPair p : to) {
                p.relayAbort();
            }
            throw e;
        }
        relayTo = List.copyOf(to);
        rec = repl.store().update(id, r -> r.withConsistent(false, Position.ZERO));
        if (rebase) {
            rebaseTo(start);
            rec = repl.store().update(id, PairStore.PairRecord::withFullCopyDone);
        }
        state("resyncing", blocks + " blocks to relay to " + (to.isEmpty() ? "no peer"
                : to.stream().map(p -> p.peer).collect(Collectors.joining(", "))));
        return ack().frame(id);
    }

    /** Journal-only: asks the source for a pass of every block (a peer of this group needs a whole copy). */
    void requestWholePass(String why) {
        PeerLink l = repl.link(peer);
        if (l == null || !l.isConnected()) {
            return;
        }
        LOG.info("Pair {}: asking {} for a whole pass: {}", id, peer, why);
        l.request(new Wire.Out(Wire.RESYNC_WANTED, id, 64 + why.length() * 3).putString(why).frame(), 30_000)
                .whenComplete((r, e) -> {
                    if (e != null && !stopped) {
                        LOG.warn("Pair {}: asking {} for a whole pass failed: {}", id, peer, PrimaryPair.rootMessage(e));
                    }
                });
    }

    Frame outdated(Wire.In in) throws IOException {
        boolean v = in.getBoolean();
        rec = repl.store().update(id, r -> r.withOutdated(v));
        LOG.info("Pair {}: the primary {} this site Outdated", id, v ? "marked" : "cleared");
        return ack().frame(id);
    }

    Frame resize(Wire.In in) throws IOException {
        int sourceId = in.getInt();
        long size = in.getLong();
        VolumeSlot slot = volumes.get(sourceId);
        if (slot == null) {
            throw new IOException("no target volume for source volume " + sourceId);
        }
        if (group.primaries.length > 0) {
            repl.resizeTargets(group, slot, size); // a cascade's copies grow first, as at a primary
        }
        repl.engine().growTarget(slot, size);
        return ack().frame(id);
    }

    // ---- pulling ------------------------------------------------------------------------------

    private void pullLoop() {
        long delay = 10;
        long lastStart = System.nanoTime();
        Wire.Records last = null;
        long lastMicros = 0;
        int memo = 0;
        while (!stopped) {
            try {
                CopyMode mode = repl.mode(rec.mode());
                PeerLink l = repl.link(peer);
                if (mode == null || mode.transfer() != CopyMode.Transfer.PULL || Replication.unsupported(mode) != null
                        || rec.suspended() || l == null || !opened
                        || !l.isConnected() || !rec.fullCopyDone() || group.journal == null) {
                    Thread.sleep(100);
                    continue;
                }
                Journal j = journal();
                JournalStatus st = j.status();
                PullPlan plan = mode.planPull(new PullObservation(last == null ? 0 : last.records().size(),
                        last == null ? 0 : last.records().stream().mapToLong(JournalRecord::length).sum(),
                        last != null && last.more(), lastMicros, delay, rate.perSecond(),
                        st.capacityBytes() - st.usedBytes(), st.capacityBytes(), repl.load().otherLoad(), primaryUsed, primaryCapacity,
                        primaryLoad, primaryAppended, memo));
                memo = plan.memo();
                pullDelay = plan.delayMillis();
                pullReason = plan.reason();
                // the interval runs from one pull's start to the next: a pull that took longer than
                // the interval is followed at once, so the wait never idles a busy puller
                long waitMillis = plan.delayMillis() - (System.nanoTime() - lastStart) / 1_000_000;
                if (waitMillis > 0) {
                    Thread.sleep(waitMillis);
                }
                delay = plan.delayMillis();
                long t0 = System.nanoTime();
                lastStart = t0;
                long rebasesBefore = rebases;
                Frame f = new Wire.Out(Wire.PULL, id, 64).putPosition(j.head()).putLong(plan.maxBytes())
                        .putPosition(j.durable()).putPosition(group.tracker.watermark()).frame();
                Wire.Records r = Wire.readRecords(l.request(f, PULL_MILLIS).get(PULL_MILLIS + 5_000, TimeUnit.MILLISECONDS), group.id);
                lastMicros = (System.nanoTime() - t0) / 1000;
                primaryUsed = r.journalUsed();
                primaryCapacity = r.journalCapacity();
                primaryLoad = r.load();
                primaryAppended = Math.max(0, r.head().seq() - primaryHead.seq());
                primaryHead = r.head();
                if (r.gap()) {
                    state("waiting-for-resync", "records after " + j.head() + " were folded at the primary");
                    Thread.sleep(200);
                    last = null;
                    continue;
                }
                if (!r.records().isEmpty()) {
                    inOrder(() -> {
                        // a resync rebased the journal while this pull was on the wire: its records
                        // continue the old stream, and the next pull asks again from the new head
                        if (rebases == rebasesBefore) {
                            appendAll(r.records());
                        }
                        return null;
                    }).get(60, TimeUnit.SECONDS);
                }
                if (rec.consistent() && !"replicating".equals(state)) {
                    state("replicating", "");
                }
                last = r;
            } catch (InterruptedException e) {
                if (stopped) {
                    return;
                }
            } catch (Exception e) {
                if (stopped) {
                    return;
                }
                state("disconnected", PrimaryPair.rootMessage(e));
                try {
                    Thread.sleep(500);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    // ---- status -------------------------------------------------------------------------------

    PairInfo info() {
        Journal j = group.journal;
        Position head = j == null ? Position.ZERO : j.head();
        Position durable = j == null ? Position.ZERO : j.durable();
        Position applied = group.tracker.watermark();
        Position ph = Position.max(primaryHead, head);
        long lag = Math.max(0, ph.seq() - head.seq());
        return new PairInfo(id, group.name, peer, "secondary", rec.mode(), rec.policy(), state, detail, rec.outdated(),
                rec.consistent(), ph, head, head, durable, applied, lag, lag * 4096, 0, rate.perSecond(), 0, 0, 0,
                pullDelay, pullReason, since);
    }
}
