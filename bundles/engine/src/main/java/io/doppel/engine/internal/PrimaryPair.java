package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.pair.PairInfo;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.volume.VolumeService;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source end of a pair. A driver thread runs sessions with the secondary: OPEN, then a
 * resync pass if its difference map holds blocks (the whole volumes for the initial copy),
 * and the record stream — pushed (catch-up from the journal, then live from the append path)
 * or pulled by the secondary. Host writes wait for this peer only while it is in sync
 * ({@link #gating}); losing an in-sync peer marks it Outdated durably before anything it
 * lacks is acknowledged (policy "continue"), or keeps the writes waiting ("suspend-io").
 */
final class PrimaryPair {

    private static final Logger LOG = LoggerFactory.getLogger(PrimaryPair.class);

    /** Bytes of records per PUSH frame during catch-up, and of blocks per RESYNC_DATA frame. */
    private static final int BATCH_BYTES = 1 << 20;
    /** Most bytes of requests outstanding on the link before the sender waits for replies. */
    private static final long WINDOW_BYTES = 16L << 20;
    /** Blocks read per resync chunk (under the chunk's block locks). */
    private static final int CHUNK_BLOCKS = 64;
    /** A pass marks its progress (RESYNC_MARK) after this many bytes of blocks (a test lowers it). */
    static volatile long resyncMarkBytes = 16L << 20;

    final Replication repl;
    final Group group;
    final String id;
    final String peer;
    volatile PairStore.PairRecord rec;

    private volatile String state = "starting";
    private volatile String detail = "";
    private volatile Instant since = Instant.now();

    /** Records go to the peer from the append path (guarded by the group's append lock when it changes). */
    volatile boolean live;
    /** Host writes wait for this peer's acknowledgements. */
    volatile boolean gating;
    /** A lost in-sync peer is being marked Outdated; writers wait until that is durable. */
    private boolean losing;
    private volatile boolean stopped = true;
    private volatile PeerLink link;
    private volatile Thread driver;

    private final Object acks = new Object();
    private Position journaled = Position.ZERO;
    private Position durable = Position.ZERO;
    private Position applied = Position.ZERO;
    private static final long REFRESH_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long MAX_PULL_BYTES = 16L << 20;
    /** The secondary may apply its backlog for this long before it rebases, plus time to checkpoint. */
    static final long RESYNC_BEGIN_MILLIS = TargetPair.REBASE_APPLY_MILLIS + 60_000;
    /** RESYNC_END forces every copied block at the secondary: a volume fsync of up to the whole pass. */
    static final long RESYNC_END_MILLIS = 300_000;
    private long lastRefresh;
    /** Why the current session's transfer failed (null while it works). */
    private volatile String broken;
    private final Object outdatedLock = new Object();
    /** A pull asked for records this journal released: the peer needs a pass and a rebase. */
    private volatile boolean gapSeen;
    /** The highest position a fold put into the map. */
    private Position foldedThrough = Position.ZERO;
    private volatile Position sent = Position.ZERO;
    /** When what the peer holds durably was last recorded (see maybeNotePeerDurable). */
    private volatile long lastDurableNote;
    private static final long NOTE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private final AtomicLong inflightBytes = new AtomicLong();

    private volatile JournalCursor cursor;
    private volatile DifferenceMap map;
    /** Bumped by every fold: a resync pass started before it must not clear the map. */
    private final AtomicLong mapGeneration = new AtomicLong();
    /**
     * Held while a fold adds records to the map and while a finished pass clears it: a fold
     * runs on the journal's thread, and blocks it added between a pass's check and its clear
     * would be lost. Taken after the group's append lock.
     */
    private final Object mapLock = new Object();
    private volatile long resyncTotal;
    private final AtomicLong resyncDone = new AtomicLong();
    private volatile boolean resyncing;
    private final Object wake = new Object();
    /**
     * Cascade: this group is itself a copy, and its journal was rebased by a resync from its own
     * source; the peer's stream no longer continues this journal, so pulls get a GAP until a
     * pass restarts the peer's journal.
     */
    private volatile boolean upstreamRebased;
    /** Cascade: bumped when this group's own resync from its source begins; a pass spanning one is redone. */
    private final AtomicLong upstreamResyncs = new AtomicLong();

    private final Rate rate = new Rate();

    /**
     * Journal-only source: the peer needs a whole copy (a new pair, or its journal does not
     * continue this one); only this group's own source can give it, by a pass relayed here.
     */
    private volatile boolean needsWhole;
    /** Journal-only source: a pass of this group's own source is being relayed to the peer. */
    private volatile boolean relaying;
    /** The session whose OPEN the peer answered (0 between sessions): a relay runs within one. */
    private volatile long openSession;
    private final AtomicLong sessions = new AtomicLong();
    private long lastWholeRequest;
    /** How often a journal-only source asks its own source again for a whole pass. */
    private static final long WHOLE_REQUEST_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** How long a relayed rebase waits for the peer to hold everything this journal has. */
    private static final long RELAY_DRAIN_MILLIS = 120_000;

    PrimaryPair(Replication repl, Group group, PairStore.PairRecord rec) {
        this.repl = repl;
        this.group = group;
        this.id = rec.id();
        this.peer = rec.peer();
        this.rec = rec;
    }

    // ---- the reign check after a restart ------------------------------------------------------

    /**
     * Counted down once the peer answered an OPEN (this site rules the pair), once a later
     * reign reached this site, or once the check is given up. Until then, after a restart, host
     * writes wait: the peer may have taken the pair over while this site was down, and a write
     * taken here meanwhile would be one the new primary never has.
     */
    private final java.util.concurrent.CountDownLatch reignChecked = new java.util.concurrent.CountDownLatch(1);
    private volatile long reignCheckDeadline;

    /** A planned failback's HANDOVER went unanswered: host writes wait for the peer's next answer to OPEN. */
    private volatile String handoverInDoubt;

    void handoverInDoubt(String why) {
        handoverInDoubt = why;
        poke();
    }

    /** A pair made or promoted here needs no check: no other site can rule it in a later reign. */
    void reignKnown() {
        reignChecked.countDown();
    }

    /** Starts the check: host writes wait at most {@code millis} for the peer's answer. */
    void checkReign(long millis) {
        reignCheckDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        if (millis <= 0) {
            reignChecked.countDown();
        } else {
            LOG.info("Pair {}: host writes to {} wait until {} answers whether this site still rules the pair (at most {} ms)",
                    id, group.name, peer, millis);
        }
    }

    /** Waits for the reign check; past its deadline, gives it up (logged once) and lets writes go on. */
    void awaitReign() throws InterruptedException {
        if (reignChecked.getCount() == 0) {
            return;
        }
        long left = reignCheckDeadline - System.nanoTime();
        if (left > 0 && reignChecked.await(left, TimeUnit.NANOSECONDS)) {
            return;
        }
        synchronized (reignChecked) {
            if (reignChecked.getCount() > 0) {
                LOG.warn("Pair {}: {} did not answer within the reign check after the start; {} takes host writes as its"
                        + " primary ({}). Should {} have taken the pair over, the two sides split (doppel:resolve)", id,
                        peer, group.name, repl.reign(group), peer);
                reignChecked.countDown();
            }
        }
    }

    // ---- life cycle ---------------------------------------------------------------------------

    /** Opens the cursor and map on the attached journal and starts the driver. */
    void start(Journal journal) throws IOException {
        DifferenceMap m = repl.maps().open(id);
        this.map = m;
        // a journal-only group has no volumes to copy folded blocks from: its cursors never fold,
        // and a full journal holds its own source back instead
        this.cursor = journal.cursor(cursorName(id), group.journalOnly ? null : this::fold);
        synchronized (acks) {
            // The peer holds at least what it reported durable before.
            durable = Position.max(durable, cursor.position());
            journaled = Position.max(journaled, durable);
        }
        if (group.journalOnly) {
            needsWhole = !rec.fullCopyDone();
        } else if (!rec.fullCopyDone() && m.blocks() == 0) {
            markWholeGroup(m, cursor.position());
            LOG.info("Pair {} ({} to {}): initial copy of {} blocks planned", id, group.name, peer, m.blocks());
        }
        stopped = false;
        Thread t = new Thread(this::drive, "doppel-pair-" + group.name + "-" + peer);
        t.setDaemon(true);
        driver = t;
        t.start();
    }

    static String cursorName(String pairId) {
        return "pair-" + pairId;
    }

    /**
     * Waits for a reply, but gives up once the pair stops. The driver is never interrupted: it
     * reads the volumes and the journal, and an interrupt during FileChannel I/O closes the
     * channel for every user of the file, host I/O included.
     */
    private Frame reply(CompletableFuture<Frame> f, long timeoutMillis)
            throws IOException, InterruptedException, ExecutionException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            if (stopped) {
                f.cancel(false);
                throw new IOException("pair " + id + " stopped");
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new TimeoutException("no reply from " + peer + " within " + timeoutMillis + " ms");
            }
            try {
                return f.get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)), TimeUnit.NANOSECONDS);
            } catch (TimeoutException slice) {
                // look at stopped again
            }
        }
    }

    /** Stops the driver and releases the cursor (the journal is being closed or the pair deleted). */
    void stop() {
        stopped = true;
        setLive(false);
        synchronized (acks) {
            gating = false;
            acks.notifyAll();
        }
        poke();
        Thread t = driver;
        if (t != null && t != Thread.currentThread()) {
            // no interrupt (see reply): the driver sees stopped at its next wait or loop turn
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        JournalCursor c = cursor;
        if (c != null) {
            c.close();
        }
        cursor = null;
    }

    void poke() {
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    private void waitForChange(long millis) throws InterruptedException {
        synchronized (wake) {
            wake.wait(millis);
        }
    }

    private void state(String s, String why) {
        if (!s.equals(state) || !why.equals(detail)) {
            state = s;
            detail = why;
            since = Instant.now();
            LOG.info("Pair {} ({} to {}): {}{}", id, group.name, peer, s, why.isEmpty() ? "" : " (" + why + ")");
        }
    }

    private CopyMode mode() {
        return repl.mode(rec.mode());
    }

    // ---- cascade: this group is a copy of another site's group ---------------------------------

    /**
     * Whether this group is itself the target of a pair (the middle of a cascade A to B to C):
     * its journal holds its source's records at the source's positions, applied to its volumes
     * behind the journal's head.
     */
    boolean cascaded() {
        return group.target != null || repl.isTargetGroup(group.name);
    }

    /** Cascade: whether this group's volumes hold a consistent image (its own resync is not under way). */
    private boolean sourceConsistent() {
        TargetPair t = group.target;
        return t != null && t.consistent();
    }

    /**
     * The position whose image the volumes hold: the head on a primary, where a write reaches the
     * volume under its block lock before its record is released; in a cascade, the applied
     * watermark, since the journal runs ahead of the volumes.
     */
    private Position imagePosition(Journal j) {
        return imagePosition(j, cascaded());
    }

    private Position imagePosition(Journal j, boolean cascade) {
        return cascade ? Position.min(j.head(), group.tracker.watermark()) : j.head();
    }

    /**
     * Cascade: this group's journal is about to be rebased by its own resync. What the peer still
     * needs of it goes into the peer's map, the cursor moves to the head (a rebase needs every
     * cursor there), and the peer's stream restarts with the next pass.
     */
    void sourceRebasing(Journal j) throws IOException {
        if (map == null || cursor == null) {
            return;
        }
        if (group.journalOnly) {
            // relayBegin left the cursor at the head (the peer holds everything, or needs a whole
            // copy anyway); a rebase needs every cursor there
            if (cursor.position().isBefore(j.head())) {
                needsWhole = true;
                cursor.advance(j.head());
            }
            return;
        }
        foldThrough(j, cursor.position(), j.head());
        upstreamRebased = true;
        LOG.info("Pair {}: {} here is rebased by its own resync; {} gets a pass ({} blocks in its map)", id, group.name, peer,
                map.blocks());
        poke();
    }

    /**
     * The operator switched the pair's copy mode ({@code pair-mode}); the record already names the
     * new one. The session in the old mode ends and the next opens in the new one, from what the
     * peer holds: sync to async stops pushing and holding writes for the peer (the peer pulls on
     * from its head); async to sync catches up by pushing, and the pair counts as in sync, holding
     * host writes, only once the peer has journaled the head.
     */
    void modeChanged() {
        CopyMode m = mode();
        if (m == null || !m.waitsForPeer()) {
            synchronized (acks) {
                gating = false; // writes waiting for this peer complete now: the new mode does not wait
                acks.notifyAll();
            }
        }
        if (m == null || m.transfer() != CopyMode.Transfer.PUSH) {
            setLive(false);
        }
        if (m != null && m.waitsForPeer()) {
            state("catching-up", "switched to " + m.name() + ": in sync once the peer holds the head");
        }
        poke();
    }

    /** The copy mode stayed absent past the hold and the lost-peer policy was applied; cleared when it returns. */
    volatile boolean modeGaveUp;

    /**
     * Lost-peer policy continue, for a copy mode that stayed absent for {@code heldMillis}: the
     * peer is marked Outdated durably before the write at {@code pos} is acknowledged without it,
     * and later writes do not wait until the mode is back.
     */
    void modeAbsent(Position pos, long heldMillis) throws IOException {
        synchronized (outdatedLock) {
            if (!rec.outdated()) {
                rec = repl.store().update(id, r -> r.withOutdated(true));
                LOG.warn("Pair {}: copy mode {} stayed absent for {} ms; {} marked Outdated before acknowledging {} without it"
                        + " (lost-peer policy continue)", id, rec.mode(), heldMillis, peer, pos);
            }
            modeGaveUp = true;
        }
    }

    /** Cascade: this group's own resync begins: a pass to the peer under way must be redone. */
    void sourceResyncBegins() {
        upstreamResyncs.incrementAndGet();
        poke();
    }

    /** Cascade: resync blocks written here (not journaled) join the peer's map. */
    void sourceWroteBlocks(int volumeId, long first, long count) {
        DifferenceMap m = map;
        if (m == null) {
            return;
        }
        synchronized (mapLock) {
            m.addBlocks(volumeId, first, count);
            mapGeneration.incrementAndGet();
        }
    }

    /** Cascade: this group's resync pass ends: the blocks it wrote are in the peer's map on disk first. */
    void sourceResyncEnds() throws IOException {
        DifferenceMap m = map;
        if (m == null) {
            return;
        }
        synchronized (mapLock) {
            m.persist(m.coveredThrough());
        }
        poke();
    }

    // ---- the driver ---------------------------------------------------------------------------

    private void drive() {
        long backoff = 100;
        while (!stopped) {
            try {
                if (rec.suspended()) {
                    state("suspended", "by the operator");
                    waitForChange(1000);
                    continue;
                }
                CopyMode mode = mode();
                if (mode == null) {
                    state("waiting-for-mode", "no copy mode '" + rec.mode() + "' is installed");
                    waitForChange(500);
                    continue;
                }
                String unsupported = Replication.unsupported(mode);
                if (unsupported != null) {
                    state("waiting-for-mode", unsupported);
                    waitForChange(500);
                    continue;
                }
                PeerLink l = repl.link(peer);
                if (l == null || !l.isConnected()) {
                    state("disconnected", l == null ? "no transport" : "link to " + peer + " is down");
                    lost("link to " + peer + " is down");
                    waitForChange(1000);
                    continue;
                }
                link = l;
                session(l, mode);
                backoff = 100;
            } catch (InterruptedException e) {
                if (stopped) {
                    break;
                }
            } catch (Exception e) {
                if (stopped) {
                    break;
                }
                String why = rootMessage(e);
                state("disconnected", why);
                lost(why);
                try {
                    waitForChange(backoff);
                } catch (InterruptedException ie) {
                    if (stopped) {
                        break;
                    }
                }
                backoff = Math.min(backoff * 2, 5000);
            }
        }
        setLive(false);
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    /** One connected session; returns or throws when the link is lost or the pair stops. */
    private void session(PeerLink l, CopyMode mode) throws Exception {
        Journal j = group.journal;
        if (j == null) {
            throw new IOException(group.notAttached());
        }
        broken = null;
        Opened o = open(l, mode);
        if (handoverInDoubt != null) {
            // the peer answered as the secondary: it never took the role the failback offered
            LOG.warn("Pair {}: {} answers as the secondary: the failback ({}) did not take place; {} takes host writes"
                    + " again", id, peer, handoverInDoubt, group.name);
            handoverInDoubt = null;
            group.writesRefused = null;
        }
        if (reignChecked.getCount() > 0) {
            LOG.info("Pair {}: {} answered: this site still rules {} ({}); host writes go on", id, peer, group.name,
                    repl.reign(group));
            reignChecked.countDown();
        }
        Wire.Ack opened = o.ack();
        synchronized (acks) {
            // A new session starts from what the peer holds now (it may have lost an unforced tail).
            journaled = opened.journaled();
            durable = opened.durable();
            applied = opened.applied();
        }
        updateAcks(opened);
        if (group.journalOnly) {
            relaySession(l, mode, o, j);
            return;
        }
        if (o.fork() != null && o.fork().splitBrain()) {
            holdSplitBrain(l, o.fork(), j);
            return;
        }
        Position start;
        // The peer's journal continues ours when it is inside what we retain; otherwise fold what
        // it lacks into the map and restart its journal at our head.
        Position peerHead = opened.journaled();
        // The cursor moved to what the peer reported durable: a journal that now ends before that
        // lost records it held (a damaged tail was cut), which this journal may have released.
        boolean lostDurable = rec.fullCopyDone() && o.continues() && peerHead.isBefore(rec.peerDurable());
        if (lostDurable) {
            LOG.warn("Pair {}: {} reports its journal ending at {}, but it had reported {} durable: it lost records it held",
                    id, peer, peerHead, rec.peerDurable());
        }
        boolean rebase;
        if (o.fork() != null) {
            // the peer's history parts from this one (it was the primary, or ran ahead): the
            // blocks written on either side after the fork are copied from here
            start = foldFork(j, o.fork());
            rebase = true;
        } else if (o.continues() && rec.fullCopyDone() && !peerHead.isAfter(j.head()) && !peerHead.isBefore(j.retainedStart())
                && map.blocks() == 0) {
            start = peerHead; // the stream resumes at its head: lost records are sent again too
            rebase = false;
        } else {
            // A resync is due anyway (or the peer's journal does not continue ours): records the
            // peer lacks join the map, so a block written many times, or both mapped and
            // journaled, is sent once.
            boolean lostRetained = lostDurable && !peerHead.isBefore(j.retainedStart());
            start = foldAllAfterCursor(j, lostRetained ? peerHead : null);
            rebase = true;
            if (rec.fullCopyDone() && (!o.continues() || lostDurable && !lostRetained)) {
                // The peer no longer holds this pair's stream (reinstalled, reset), or lost records
                // this journal no longer has: only a full copy is sure to cover what it lacks.
                markWholeGroup(map, start);
                LOG.warn("Pair {}: {} {}; copying the whole group again ({} blocks)", id, peer,
                        o.continues() ? "lost records this journal released" : "no longer holds this pair's stream",
                        map.blocks());
            }
        }
        sent = start;
        // A pass is due when the map holds blocks; a restarted stream also needs the secondary
        // to restart its journal at the stream's start.
        boolean beginDue = rebase || map.blocks() > 0;
        boolean rebaseDue = rebase;
        // a session runs in one mode: a switch (pair-mode) or another binding (a bundle update,
        // perhaps to a mode this engine cannot run) ends it, and the next one starts over
        while (!stopped && l.isConnected() && !rec.suspended() && mode() == mode) {
            checkBroken();
            if (cascaded() && !sourceConsistent()) {
                // a pass now would copy an image its own resync is still making
                state("waiting-for-source", group.name + " here is not consistent (its own resync is under way)");
                maybeNotePeerDurable();
                waitForChange(200);
                continue;
            }
            boolean sourceRebased = upstreamRebased;
            boolean gap = gapSeen || sourceRebased;
            if (beginDue || gap || (map.blocks() > 0 && !resyncing)) {
                if (sourceRebased && mode.transfer() != CopyMode.Transfer.PULL) {
                    throw new IOException("group " + group.name + " here was rebased by its own resync; a cascaded pair pulls");
                }
                gapSeen = false;
                if (mode.transfer() == CopyMode.Transfer.PULL || rebaseDue) {
                    // The secondary restarts its journal where the stream (re)starts; a fold since
                    // then moved that to the cursor.
                    Position s = mode.transfer() == CopyMode.Transfer.PULL && (gap || !beginDue) ? foldedCursor() : sent;
                    if (cascaded()) {
                        // the copied blocks show the volumes' image: the records after it come again
                        s = Position.min(s, imagePosition(j));
                    }
                    LOG.info("Pair {}: a pass begins; {} restarts its journal at {} (cursor {}, folded through {}, "
                            + "sent {}{})", id, peer, s, cursor.position(), foldedThrough, sent, gap ? ", after a GAP" : "");
                    beginResync(l, s, true);
                    sent = s;
                    if (sourceRebased) {
                        upstreamRebased = false; // the peer's journal now continues this one
                    }
                } else {
                    // A pushed stream goes on unbroken; only the map's blocks are copied again.
                    beginResync(l, sent, false);
                }
                beginDue = false;
                rebaseDue = false;
                if (mode.transfer() == CopyMode.Transfer.PUSH && !live) {
                    catchUp(l, j);
                }
                resyncPass(l, j);
            }
            if (mode.transfer() == CopyMode.Transfer.PUSH && !live) {
                catchUp(l, j);
            }
            // With suspend-io, gating never ended while the peer was away: only the state is behind.
            if (mode.waitsForPeer() && live && map.blocks() == 0 && (!gating || !"in-sync".equals(state))) {
                inSync(l);
            } else if (!mode.waitsForPeer() && map.blocks() == 0) {
                state("replicating", "");
            }
            if (mode.transfer() == CopyMode.Transfer.PUSH && live) {
                refreshPeer();
            }
            maybeNotePeerDurable();
            waitForChange(200);
        }
        if (!l.isConnected()) {
            throw new IOException("link to " + peer + " is down");
        }
    }

    /**
     * Where the cursor is once a fold finished: the journal moves it after the fold callback
     * returns, so a driver poked by the fold may still read the old position.
     */
    private Position foldedCursor() {
        synchronized (acks) {
            return Position.max(cursor.position(), foldedThrough);
        }
    }

    private long groupBlocks() {
        long n = 0;
        for (VolumeSlot s : group.volumes.values()) {
            n += s.size / VolumeService.BLOCK_SIZE;
        }
        return n;
    }

    /** Every block of every volume goes into the map: a full copy. */
    private void markWholeGroup(DifferenceMap m, Position coveredThrough) throws IOException {
        for (VolumeSlot s : group.volumes.values()) {
            m.addBlocks(s.id, 0, s.size / VolumeService.BLOCK_SIZE);
        }
        m.persist(coveredThrough);
    }

    private void checkBroken() throws IOException {
        String why = broken;
        if (why != null) {
            throw new IOException("transfer to " + peer + " failed: " + why);
        }
    }

    /**
     * The secondary's answer to OPEN; {@code continues}: its journal carries this pair's stream;
     * {@code fork}: where its history parts from this one, or null.
     */
    private record Opened(Wire.Ack ack, boolean continues, Fork fork) {
    }

    /** The secondary's history parts from this one at {@code at}; it holds {@code runs} differently. */
    record Fork(Position at, Position peerHead, long records, boolean splitBrain, long peerEpoch, List<long[]> runs) {

        long blocks() {
            return runs.stream().mapToLong(r -> r[2]).sum();
        }
    }

    private Opened open(PeerLink l, CopyMode mode) throws Exception {
        Journal j = group.journal;
        Wire.Out o = new Wire.Out(Wire.OPEN, id, 512).putString(group.name).putString(rec.mode()).putString(rec.policy())
                .putString(repl.siteId()).putBoolean(rec.outdated());
        List<VolumeSlot> vols = new ArrayList<>(group.volumes.values());
        o.putInt(vols.size());
        for (VolumeSlot s : vols) {
            o.putInt(s.id).putString(s.name).putLong(s.size);
        }
        List<EpochEntry> history = j.history();
        Position head = j.head();
        Wire.Reign reign = Wire.Reign.of(history, head);
        o.putLong(reign.epoch()).putString(reign.site()).putPosition(head);
        Wire.putHistory(o, history);
        o.putBoolean(resolveKeepMine);
        Frame reply = reply(l.request(o.frame()), 30_000);
        if (reply.type() == Wire.SUPERSEDED) {
            superseded(reply);
        }
        state(rec.fullCopyDone() ? "catching-up" : "initial-copy", "");
        Wire.In in = new Wire.In(reply);
        Wire.Ack a = new Wire.Ack(in.getPosition(), in.getPosition(), in.getPosition(), in.getBoolean(), in.getBoolean());
        boolean continues = in.getBoolean();
        Fork fork = null;
        if (in.getBoolean()) {
            Position at = in.getPosition();
            Position peerHead = in.getPosition();
            long records = in.getLong();
            boolean split = in.getBoolean();
            long peerEpoch = in.getLong();
            int n = in.getInt();
            List<long[]> runs = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                runs.add(new long[] {in.getInt(), in.getLong(), in.getLong()});
            }
            fork = new Fork(at, peerHead, records, split, peerEpoch, runs);
        }
        return new Opened(a, continues, fork);
    }

    // ---- a later reign: another site took the pair over -----------------------------------------

    /** Set once a site that took the pair over answered: writes waiting for the peer fail. */
    private volatile Wire.Reign supersededBy;

    Wire.Reign supersededBy() {
        return supersededBy;
    }

    /** The peer rules the pair in a later reign: this site stops being its primary. */
    private void superseded(Frame reply) throws IOException {
        Wire.In in = new Wire.In(reply);
        Wire.Reign r = new Wire.Reign(in.getLong(), in.getString());
        String why = in.getString();
        if (!supersede(r, why)) {
            throw new IOException(peer + " also claims the pair's primary, in " + r + ", an earlier reign than this site's "
                    + repl.reign(group) + "; it gives way at this site's next OPEN");
        }
        throw new IOException("pair " + id + ": " + peer + " took the pair over (" + r + "): " + why);
    }

    /** Gives the pair up to a later reign; false (and nothing done) when {@code r} is not later than this site's. */
    private boolean supersede(Wire.Reign r, String why) {
        if (r.compareTo(repl.reign(group)) <= 0) {
            return false;
        }
        supersede0(r, why);
        return true;
    }

    private void supersede0(Wire.Reign r, String why) {
        synchronized (acks) {
            if (supersededBy != null) {
                return;
            }
            supersededBy = r;
            gating = false;
            acks.notifyAll();
        }
        group.writesRefused = "group " + group.name + " is no longer the primary here: " + peer + " took it over (" + r + ")";
        reignChecked.countDown(); // the writes that waited are refused now
        LOG.warn("Pair {}: {} rules {} in {} ({}); this site stops accepting writes and becomes its secondary", id, peer,
                group.name, r, why);
        setLive(false);
        repl.executor().execute(() -> repl.demote(this, r));
    }

    /**
     * Failback: the peer's divergent blocks (its records after the fork, the map it kept as
     * primary) and this site's records after the fork go into the map; the peer's journal
     * restarts at the head. A record after the fork that this journal no longer holds touched a
     * block in the peer's hot extents, which its runs include.
     */
    private Position foldFork(Journal j, Fork f) throws IOException {
        group.appendLock.lock();
        try {
            Position head = imagePosition(j);
            synchronized (mapLock) {
                for (long[] r : f.runs()) {
                    if (group.volumes.containsKey((int) r[0])) {
                        map.addBlocks((int) r[0], r[1], r[2]);
                    }
                }
            }
            long before = map.blocks();
            foldThrough(j, Position.min(cursor.position(), f.at()), head);
            lastFork = f;
            resolveKeepMine = false;
            LOG.info("Pair {}: {} parts from this history at {} ({} records of its own through {}, {} blocks); with this"
                    + " site's writes after it, {} blocks are copied to it ({} from its side), then its journal restarts at {}",
                    id, peer, f.at(), f.records(), f.peerHead(), f.blocks(), map.blocks(), before, head);
            return head;
        } finally {
            group.appendLock.unlock();
        }
    }

    /** The last fork a peer reported (failover-status shows it). */
    volatile Fork lastFork;
    /**
     * The operator resolved a split-brain keeping this site's side: OPEN tells the peer to give
     * its divergent blocks up (kept in its snapshot). Cleared once a pass began.
     */
    volatile boolean resolveKeepMine;
    /** Why this site is the pair's primary, when a failover decided it (failover-status shows it). */
    volatile String lastDecision = "";

    /**
     * Before becoming the secondary: the records the peer lacks go into the map (this site's
     * not-copied updates), so that the cursor can go and the journal need not keep them.
     */
    void prepareDemotion() throws IOException {
        Journal j = group.journal;
        if (j == null || cursor == null || map == null) {
            return;
        }
        Position held;
        synchronized (acks) {
            held = durable; // the cursor follows what the peer holds durably, but only now and then
        }
        group.appendLock.lock();
        try {
            foldThrough(j, Position.max(cursor.position(), Position.min(held, j.head())), j.head());
        } finally {
            group.appendLock.unlock();
        }
    }

    /**
     * Both sites wrote after the fork, each in its own reign: nothing is copied either way until
     * the operator keeps one side ({@code doppel:resolve}).
     */
    private void holdSplitBrain(PeerLink l, Fork f, Journal j) throws Exception {
        lastFork = f;
        long mine = 0;
        Position from = Position.max(f.at(), j.retainedStart());
        if (j.head().isAfter(from)) {
            Set<Long> blocks = new HashSet<>();
            try (JournalReader r = j.read(from, j.head())) {
                for (JournalRecord x = r.next(); x != null; x = r.next()) {
                    if (x.touchesBlocks()) {
                        long first = x.offset() / VolumeService.BLOCK_SIZE;
                        long last = (x.offset() + Math.max(1, x.length()) - 1) / VolumeService.BLOCK_SIZE;
                        for (long b = first; b <= last; b++) {
                            blocks.add(((long) x.volumeId() << 40) | b);
                        }
                    }
                }
            }
            mine = blocks.size() + map.blocks();
        }
        String why = "both sites wrote after " + f.at() + ": here " + mine + " blocks (" + mine * VolumeService.BLOCK_SIZE
                + " bytes) through " + j.head() + ", at " + peer + " " + f.blocks() + " blocks (" + f.blocks() * VolumeService.BLOCK_SIZE
                + " bytes) in its epoch " + f.peerEpoch() + " through " + f.peerHead()
                + "; nothing is copied until doppel:resolve " + group.name + " --keep SITE";
        state("split-brain", why);
        LOG.error("Pair {}: split-brain with {}: {}", id, peer, why);
        // the session opens again now and then: doppel:resolve at either site ends it
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!stopped && l.isConnected() && !rec.suspended() && !resolveKeepMine && System.nanoTime() < until) {
            waitForChange(200);
        }
    }

    /**
     * Everything after the cursor (or after {@code lostFrom}, when the peer lost records before
     * it) goes into the map; the stream restarts at the head.
     */
    private Position foldAllAfterCursor(Journal j, Position lostFrom) throws IOException {
        group.appendLock.lock();
        try {
            // the peer's journal restarts where the volumes' image stands, so that a pass copying
            // them and the records after that point together make the whole stream
            Position head = imagePosition(j);
            foldThrough(j, lostFrom == null ? cursor.position() : Position.min(cursor.position(), lostFrom), head);
            return head;
        } finally {
            group.appendLock.unlock();
        }
    }

    /**
     * The blocks of the records after {@code from} (or the retained start, if later) through
     * {@code upTo} go into the map, persisted as covering {@code upTo}, and the cursor moves there.
     */
    private void foldThrough(Journal j, Position from, Position upTo) throws IOException {
        if (from.isBefore(j.retainedStart())) {
            from = j.retainedStart();
        }
        synchronized (mapLock) {
            if (from.isBefore(upTo)) {
                try (JournalReader r = j.read(from, upTo)) {
                    addToMap(r);
                }
            }
            map.persist(upTo);
            mapGeneration.incrementAndGet();
            if (cursor.position().isBefore(upTo)) {
                cursor.advance(upTo);
            }
        }
    }

    private void addToMap(JournalReader r) throws IOException {
        for (JournalRecord rec = r.next(); rec != null; rec = r.next()) {
            if (rec.touchesBlocks()) {
                map.add(rec.volumeId(), rec.offset(), rec.length());
            }
            // A RESIZE needs no blocks: every peer grew its copy before this volume grew
            // (resizeTargets), and the grown range reads as zeros on both sides.
        }
    }

    /** The journal is full and the cursor holds it: the peer's records become map blocks. */
    private void fold(JournalReader records, Position upTo) throws IOException {
        if (gating && live) {
            // An in-sync peer never folds: make it durable through upTo instead.
            try {
                forcePeer(upTo);
                notePeerDurable(upTo);
                return;
            } catch (IOException e) {
                LOG.warn("Pair {}: peer {} could not make records durable ({}); folding them into its map", id, peer,
                        e.getMessage());
            }
        }
        synchronized (mapLock) {
            addToMap(records);
            map.persist(upTo);
            synchronized (acks) {
                foldedThrough = Position.max(foldedThrough, upTo);
            }
            mapGeneration.incrementAndGet();
        }
        LOG.info("Pair {}: journal full; folded the records {} lacks through {} into its map ({} blocks)", id, peer,
                upTo, map.blocks());
        poke();
    }

    /**
     * Tells the secondary a pass begins: it keeps its last consistent image as snapshots and,
     * with {@code rebase}, applies what it holds and restarts its journal at {@code start}.
     */
    private void beginResync(PeerLink l, Position start, boolean rebase) throws Exception {
        if (rebase && start.isBefore(rec.peerDurable())) {
            // the peer's journal restarts at start: durably below what it reported before
            rec = repl.store().update(id, r -> r.withPeerDurable(start));
        }
        long blocks = map.blocks();
        Frame f = new Wire.Out(Wire.RESYNC_BEGIN, id, 40).putPosition(start).putBoolean(rebase).putLong(blocks)
                .putBoolean(blocks >= groupBlocks()).frame();
        Wire.Ack a = Wire.Ack.read(reply(l.request(f, RESYNC_BEGIN_MILLIS), RESYNC_BEGIN_MILLIS + 5_000));
        synchronized (acks) {
            if (rebase) {
                journaled = a.journaled();
                durable = a.durable();
                applied = a.applied();
            }
        }
        updateAcks(a);
    }

    // ---- journal-only source: passes relayed from this group's own source -----------------------

    /**
     * A session from a journal-only group. Records reach the peer from this journal as in any
     * pull pair, but no pass starts here: there are no volumes to copy from. A peer whose
     * journal does not continue this one waits for a whole pass from this group's own source,
     * which this site relays (relayBegin, relayData, relayEnd); until then its cursor follows
     * the head, so it holds nothing back.
     */
    private void relaySession(PeerLink l, CopyMode mode, Opened o, Journal j) throws Exception {
        if (mode.transfer() != CopyMode.Transfer.PULL) {
            throw new IOException("group " + group.name + " here is journal-only; a pair from it pulls: use async");
        }
        Position peerHead = o.ack().journaled();
        boolean continues = o.continues() && rec.fullCopyDone() && !peerHead.isAfter(j.head())
                && !peerHead.isBefore(j.retainedStart());
        if (!continues && !needsWhole) {
            LOG.info("Pair {}: {}'s journal (at {}) does not continue {} here ({} to {}); it needs a whole copy, relayed"
                    + " from the source's next pass", id, peer, peerHead, group.name, j.retainedStart(), j.head());
        }
        if (!continues) {
            needsWhole = true;
        }
        sent = peerHead;
        openSession = sessions.incrementAndGet();
        try {
            while (!stopped && l.isConnected() && !rec.suspended() && mode() == mode) {
                checkBroken();
                if (needsWhole && !relaying) {
                    // nothing here continues the peer's journal: keep none of it for the peer
                    advanceCursor(j.head());
                    requestWholePass();
                } else if (!relaying && !"replicating".equals(state)) {
                    state("replicating", "");
                }
                maybeNotePeerDurable();
                waitForChange(200);
            }
        } finally {
            openSession = 0;
        }
        if (!l.isConnected()) {
            throw new IOException("link to " + peer + " is down");
        }
    }

    /** Asks this group's own source for a whole pass, at most every few seconds. */
    private void requestWholePass() {
        TargetPair t = group.target;
        String why = peer + " needs a whole copy of " + group.name;
        if (t == null) {
            state("waiting-for-source", why + "; " + group.name + " here is not the target of a pair yet");
            return;
        }
        state("waiting-for-source", why + ", relayed from the next whole pass from " + t.peer);
        long now = System.nanoTime();
        if (lastWholeRequest == 0 || now - lastWholeRequest > WHOLE_REQUEST_NANOS) {
            lastWholeRequest = now;
            t.requestWholePass(why);
        }
    }

    /**
     * This group's own source begins a pass to it (journal-only): the pass goes on to the peer,
     * which restarts its journal with this one. Runs on the target pair's frame thread, where
     * records are appended too, so the head stands still meanwhile.
     *
     * @return whether the pass is relayed: a peer that needs a whole copy gets only a whole pass
     * @throws IOException when the peer cannot take it (the source's pass fails and is redone)
     */
    boolean relayBegin(Journal j, Position start, boolean rebase, boolean whole, long blocks) throws Exception {
        if (needsWhole && !whole) {
            LOG.info("Pair {}: a pass of {} blocks is not relayed to {}, which needs a whole copy", id, blocks, peer);
            return false;
        }
        long session = openSession;
        PeerLink l = link;
        if (session == 0 || l == null || !l.isConnected()) {
            throw new IOException("group " + group.name + " here is journal-only and relays every pass, but its pair with "
                    + peer + " is not connected (" + state + (detail.isEmpty() ? "" : ": " + detail) + ")");
        }
        checkBroken();
        boolean whole0 = needsWhole;
        if (rebase && !whole0) {
            // this journal restarts at the source's position: the peer takes all of it first
            awaitPeerDurable(j.head());
        }
        // the peer's journal restarts with this one: at the source's position, or at this head
        Position peerStart = rebase ? start : j.head();
        boolean peerRebase = rebase || whole0;
        relaying = true;
        relayRestarted = peerRebase;
        try {
            if (peerRebase && cursor.position().isBefore(j.head())) {
                cursor.advance(j.head()); // the peer holds it all (drained), or gets a whole copy
            }
            resyncTotal = blocks;
            resyncDone.set(0);
            state(whole0 ? "initial-copy" : "resyncing", "relaying " + blocks + " blocks from " + group.target.peer);
            Frame f = new Wire.Out(Wire.RESYNC_BEGIN, id, 40).putPosition(peerStart).putBoolean(peerRebase)
                    .putLong(blocks).putBoolean(whole).frame();
            Wire.Ack a = Wire.Ack.read(reply(l.request(f, RESYNC_BEGIN_MILLIS), RESYNC_BEGIN_MILLIS + 5_000));
            if (openSession != session) {
                throw new IOException("the session with " + peer + " ended while a relayed pass began");
            }
            synchronized (acks) {
                if (peerRebase) {
                    journaled = a.journaled();
                    durable = a.durable();
                    applied = a.applied();
                    sent = peerStart;
                }
            }
            updateAcks(a);
            relayIn = session;
            LOG.info("Pair {}: relaying a pass of {} blocks{} to {}; its journal {}", id, blocks, whole ? " (whole)" : "",
                    peer, peerRebase ? "restarts at " + peerStart : "goes on");
            return true;
        } catch (Exception e) {
            relayAbort();
            throw e;
        }
    }

    /** The session a relayed pass runs in. */
    private volatile long relayIn;
    /** The relayed pass restarted the peer's journal. */
    private volatile boolean relayRestarted;

    /** Waits until the peer reports this journal's records through {@code pos} durable. */
    private void awaitPeerDurable(Position pos) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RELAY_DRAIN_MILLIS);
        synchronized (acks) {
            while (durable.isBefore(pos)) {
                if (stopped || broken != null || openSession == 0) {
                    throw new IOException("pair " + id + " with " + peer + " ended before the peer held " + pos);
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException(peer + " did not take this journal through " + pos + " within "
                            + RELAY_DRAIN_MILLIS + " ms (it holds " + durable + " durably)");
                }
                acks.wait(100);
            }
        }
        notePeerDurable(pos);
    }

    /**
     * A relayed pass failed (the source redoes its pass later). A peer whose journal it restarted
     * gets a whole pass next: what it holds after the restart no longer follows from this journal.
     */
    void relayAbort() {
        if (!relaying) {
            return;
        }
        relaying = false;
        if (relayRestarted) {
            needsWhole = true;
            LOG.info("Pair {}: the relayed pass to {} broke off after restarting its journal; it needs a whole copy", id,
                    peer);
        }
        poke();
    }

    /** Relays one RESYNC_DATA frame's blocks (volume ids already this site's); the reply is awaited at relayEnd. */
    void relayData(List<Wire.Blocks> blocks, int bytes) throws Exception {
        checkRelay();
        Wire.Out o = new Wire.Out(Wire.RESYNC_DATA, id, bytes + blocks.size() * 40 + 64);
        long n = 0;
        for (Wire.Blocks b : blocks) {
            b.put(o);
            n += b.count();
        }
        sendResync(link, o, bytes);
        resyncDone.addAndGet(n);
    }

    private void checkRelay() throws IOException {
        checkBroken();
        if (!relaying || openSession == 0 || openSession != relayIn) {
            throw new IOException("the relayed pass to " + peer + " broke off: its session ended");
        }
    }

    /** The source's pass ended at {@code end}: once the peer has every relayed block, it is told so. */
    void relayEnd(Position end) throws Exception {
        try {
            awaitDrained();
            checkRelay();
            Frame f = new Wire.Out(Wire.RESYNC_END, id, 16).putPosition(end).frame();
            updateAcks(Wire.Ack.read(reply(link.request(f, RESYNC_END_MILLIS), RESYNC_END_MILLIS + 5_000)));
            if (!rec.fullCopyDone()) {
                rec = repl.store().update(id, PairStore.PairRecord::withFullCopyDone);
            }
            boolean wasWhole = needsWhole;
            needsWhole = false;
            relaying = false;
            LOG.info("Pair {}: relayed pass to {} done ({} blocks{}), consistent once it applies through {}", id, peer,
                    resyncDone.get(), wasWhole ? ", a whole copy" : "", end);
            poke();
        } catch (Exception e) {
            relayAbort();
            throw e;
        }
    }

    /**
     * A journal-only peer asks for a pass of every block, for a peer of its own whose journal
     * does not continue its one (only this site's volumes can give that copy).
     */
    Frame wholePassWanted(String why) throws IOException {
        synchronized (mapLock) {
            if (map.blocks() < groupBlocks()) {
                markWholeGroup(map, map.coveredThrough());
                mapGeneration.incrementAndGet();
                LOG.info("Pair {}: {} asks for a whole pass ({}); {} blocks planned", id, peer, why, map.blocks());
            }
        }
        poke();
        return new Wire.Out(Wire.REPLY, id, 8).frame();
    }

    // ---- pushed stream ------------------------------------------------------------------------

    /** Sends the records after {@link #sent} from the journal, then switches to live pushing. */
    private void catchUp(PeerLink l, Journal j) throws Exception {
        while (!stopped && l.isConnected()) {
            checkBroken();
            maybeNotePeerDurable();
            Position head = j.head();
            if (!sent.isBefore(head)) {
                group.appendLock.lock();
                try {
                    if (sent.equals(j.head())) {
                        setLive(true);
                        return;
                    }
                } finally {
                    group.appendLock.unlock();
                }
                continue;
            }
            List<JournalRecord> batch = new ArrayList<>();
            int bytes = 0;
            try (JournalReader r = j.read(sent, head)) {
                for (JournalRecord rec = r.next(); rec != null; rec = r.next()) {
                    batch.add(rec);
                    bytes += Wire.recordBytes(rec);
                    if (bytes >= BATCH_BYTES) {
                        break;
                    }
                }
            }
            if (batch.isEmpty()) {
                continue;
            }
            Wire.Out o = new Wire.Out(Wire.PUSH, id, bytes + 16).putInt(batch.size());
            for (JournalRecord rec : batch) {
                o.putRecord(rec);
            }
            awaitWindow();
            sendPush(l, o.frame(), bytes);
            sent = batch.get(batch.size() - 1).position();
        }
        throw new IOException("link to " + peer + " is down");
    }

    private void setLive(boolean on) {
        if (live == on) {
            return;
        }
        group.appendLock.lock();
        try {
            live = on;
            repl.pairsChanged(group);
        } finally {
            group.appendLock.unlock();
        }
    }

    /** Called under the group's append lock for every record appended while live: push it now, in seq order. */
    void appended(Position pos, RecordKind kind, int volumeId, long offset, long length, ByteBuffer data) {
        PeerLink l = link;
        if (!live || l == null) {
            return;
        }
        if (!gating && inflightBytes.get() > WINDOW_BYTES) {
            // host writes no longer wait for this peer (it was lost, or is not in sync yet) and it
            // falls behind: unbounded live pushes would pile up at the peer; the windowed catch-up
            // sends from here on
            setLive(false);
            poke();
            return;
        }
        int bytes = data == null ? 0 : data.remaining();
        Frame f = new Wire.Out(Wire.PUSH, id, bytes + 80).putInt(1)
                .putRecord(pos, kind, volumeId, offset, length, System.currentTimeMillis(), data).frame();
        sent = pos;
        sendPush(l, f, bytes + 64);
    }

    private void sendPush(PeerLink l, Frame f, int bytes) {
        inflightBytes.addAndGet(bytes);
        CompletableFuture<Frame> reply;
        try {
            reply = l.request(f);
        } catch (RuntimeException e) {
            inflightBytes.addAndGet(-bytes);
            linkFailed(e);
            return;
        }
        reply.whenComplete((r, e) -> {
            inflightBytes.addAndGet(-bytes);
            if (e == null && r.type() == Wire.SUPERSEDED) {
                // a refusal carrying a later reign is never a lost peer: no write goes on without it
                Wire.In in = new Wire.In(r);
                Wire.Reign reign = new Wire.Reign(in.getLong(), in.getString());
                String why = in.getString();
                if (supersede(reign, why)) {
                    broken = peer + " took the pair over (" + reign + ")";
                } else {
                    broken = peer + " also claims the pair's primary, in an earlier reign (" + reign + ")";
                }
                poke();
            } else if (e != null) {
                linkFailed(e);
            } else {
                rate.add(bytes);
                updateAcks(Wire.Ack.read(r));
            }
        });
    }

    /** Waits for room in the window; a broken transfer ends the wait (its replies may never come). */
    private void awaitWindow() throws InterruptedException {
        synchronized (acks) {
            while (inflightBytes.get() > WINDOW_BYTES && !stopped && broken == null) {
                acks.wait(100);
            }
        }
    }

    private void linkFailed(Throwable e) {
        if (stopped) {
            return;
        }
        String why = rootMessage(e);
        LOG.warn("Pair {}: transfer to {} failed: {}", id, peer, why);
        // The peer may hold less than was sent: the session ends and the next OPEN starts from
        // what the peer reports.
        broken = why;
        setLive(false);
        repl.executor().execute(() -> lost(why));
        poke();
    }

    void updateAcks(Wire.Ack a) {
        Position d;
        synchronized (acks) {
            journaled = Position.max(journaled, a.journaled());
            durable = Position.max(durable, a.durable());
            applied = Position.max(applied, a.applied());
            d = durable;
            acks.notifyAll();
        }
        // Records are released only once it is on disk here that the peer holds them: a peer that
        // later comes back without them is then known to have lost them (see session).
        advanceCursor(Position.min(d, rec.peerDurable()));
    }

    private void advanceCursor(Position d) {
        JournalCursor c = cursor;
        // only forward: a fold may have moved the cursor past what the peer reports
        if (c != null && d.isAfter(c.position()) && !d.isAfter(group.journal == null ? d : group.journal.head())) {
            try {
                c.advance(d);
            } catch (IOException | RuntimeException e) {
                LOG.debug("Pair {}: moving the cursor to {} failed: {}", id, d, e.getMessage());
            }
        }
    }

    /**
     * Records on disk what the peer reported durable (see PairRecord.peerDurable), then lets the
     * cursor follow; at most every 100 ms. Called by the driver between its waits, in its long
     * loops (catch-up, resync), and when serving a pull.
     */
    private void maybeNotePeerDurable() {
        long now = System.nanoTime();
        if (now - lastDurableNote < NOTE_NANOS) {
            return;
        }
        lastDurableNote = now;
        Position d;
        synchronized (acks) {
            d = durable;
        }
        notePeerDurable(d);
    }

    private void notePeerDurable(Position d) {
        if (!d.isAfter(rec.peerDurable())) {
            return;
        }
        try {
            rec = repl.store().update(id, r -> r.withPeerDurable(Position.max(r.peerDurable(), d)));
        } catch (IOException e) {
            LOG.warn("Pair {}: recording that {} holds {} durably failed; its records stay in the journal: {}", id, peer,
                    d, e.getMessage());
            return;
        }
        advanceCursor(rec.peerDurable());
    }

    // ---- sync: gating host writes -------------------------------------------------------------

    private void inSync(PeerLink l) throws Exception {
        // in sync only once the peer has journaled everything the catch-up sent
        Position caughtUp = sent;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        synchronized (acks) {
            while (journaled.isBefore(caughtUp) && broken == null && !stopped) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("peer " + peer + " did not journal the catch-up through " + caughtUp
                            + " (it holds " + journaled + ")");
                }
                acks.wait(100);
            }
        }
        checkBroken();
        synchronized (acks) {
            gating = true;
        }
        // the Outdated mark goes first, so that status never shows in-sync and Outdated at once
        if (rec.outdated()) {
            reply(l.request(new Wire.Out(Wire.OUTDATED, id, 8).putBoolean(false).frame()), 30_000);
            rec = repl.store().update(id, r -> r.withOutdated(false));
            LOG.info("Pair {}: {} is in sync again; no longer Outdated", id, peer);
        }
        state("in-sync", "");
    }

    /** A write the peer lacks fails once the peer rules the pair: it was never the new primary's. */
    private void checkSuperseded(Position pos) throws IOException {
        Wire.Reign r = supersededBy;
        boolean lacks;
        synchronized (acks) {
            lacks = journaled.isBefore(pos);
        }
        if (r != null && lacks) {
            throw new IOException("group " + group.name + " here is no longer the primary: " + peer + " took it over ("
                    + r + "); write " + pos + " is not acknowledged");
        }
    }

    /**
     * The peer is lost. An in-sync peer is marked Outdated durably (policy continue) before the
     * waiting writers are released; with suspend-io they keep waiting until it is back.
     */
    void lost(String why) {
        lost(why, false);
    }

    /** {@code release}: the operator suspended the pair, so even suspend-io lets writes go on. */
    void lost(String why, boolean release) {
        if (!gating || supersededBy != null) {
            return;
        }
        if ("suspend-io".equals(rec.policy()) && !release) {
            state("disconnected", why + "; host writes are held (suspend-io)");
            return;
        }
        synchronized (acks) {
            // another writer is recording Outdated: wait for it, so that no caller goes on (or
            // fails its host write) while the peer still gates but is not yet marked
            while (losing) {
                try {
                    acks.wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            if (!gating) {
                return;
            }
            losing = true;
        }
        try {
            rec = repl.store().update(id, r -> r.withOutdated(true));
            LOG.warn("Pair {}: peer {} lost ({}); marked Outdated before acknowledging writes it lacks", id, peer, why);
        } catch (IOException e) {
            LOG.error("Pair {}: cannot record that {} is Outdated; host writes stay held", id, peer, e);
            synchronized (acks) {
                losing = false;
            }
            return;
        }
        synchronized (acks) {
            gating = false;
            losing = false;
            acks.notifyAll();
        }
    }

    /**
     * Returns once the peer holds {@code pos} in its journal, or once it no longer counts (not
     * in sync, Outdated recorded).
     */
    void awaitJournaled(Position pos, long timeoutMillis) throws IOException {
        checkSuperseded(pos);
        boolean lacks;
        synchronized (acks) {
            lacks = !gating && !losing && journaled.isBefore(pos);
        }
        if (lacks) {
            // not in sync (catching up, resyncing, disconnected): this write is acknowledged
            // without the peer, so the peer must be known Outdated first
            markOutdated(pos);
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        synchronized (acks) {
            while ((gating || losing) && journaled.isBefore(pos)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(acks, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for " + peer);
                }
            }
            if (!(gating || losing) || !journaled.isBefore(pos)) {
                checkSuperseded(pos);
                return;
            }
        }
        // The peer did not answer in time: treat it as lost, then re-check.
        lost("no acknowledgement of " + pos + " within " + timeoutMillis + " ms");
        synchronized (acks) {
            if ((gating || losing) && journaled.isBefore(pos)) {
                throw new IOException("peer " + peer + " of group " + group.name + " holds the write (" + rec.policy() + ")");
            }
        }
    }

    private void markOutdated(Position pos) throws IOException {
        if (rec.outdated()) {
            return;
        }
        synchronized (outdatedLock) {
            synchronized (acks) {
                if (gating || !journaled.isBefore(pos)) {
                    return;
                }
            }
            if (!rec.outdated()) {
                rec = repl.store().update(id, r -> r.withOutdated(true));
                LOG.warn("Pair {}: {} is not in sync ({}); marked Outdated before acknowledging {}, which it lacks", id,
                        peer, state, pos);
            }
        }
    }

    /** FLUSH/FUA: the peer's journal durable through {@code pos}. */
    void awaitDurable(Position pos, long timeoutMillis) throws IOException {
        checkSuperseded(pos);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (gating) {
            try {
                forcePeer(pos);
                return;
            } catch (IOException e) {
                lost(e.getMessage());
                if (!gating) {
                    return;
                }
                if (!"suspend-io".equals(rec.policy()) || System.nanoTime() - deadline >= 0) {
                    throw e;
                }
            }
            // suspend-io: the FLUSH or FUA waits for the peer like a write does, and asks again
            // once a session brought news or after a short while
            synchronized (acks) {
                if (gating && durable.isBefore(pos)) {
                    try {
                        acks.wait(200);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException("interrupted waiting for " + peer);
                    }
                }
            }
        }
    }

    /**
     * A pushed stream learns the peer's positions only from its answers; when the hosts go quiet
     * the last answers are stale. Once a second, a FORCE of what was sent makes the peer's journal
     * durable (so this journal's cursor moves and releases records) and brings its applied position.
     */
    private void refreshPeer() throws IOException {
        long now = System.nanoTime();
        if (now - lastRefresh < REFRESH_NANOS) {
            return;
        }
        Position s = sent;
        synchronized (acks) {
            if (!durable.isBefore(s) && !applied.isBefore(s)) {
                return;
            }
        }
        lastRefresh = now;
        PeerLink l = link;
        if (l == null) {
            return;
        }
        try {
            Frame r = reply(l.request(new Wire.Out(Wire.FORCE, id, 16).putPosition(s).frame()), 30_000);
            updateAcks(Wire.Ack.read(r));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted refreshing " + peer);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("peer " + peer + " did not answer a FORCE of " + s + ": " + rootMessage(e), e);
        }
    }

    private void forcePeer(Position pos) throws IOException {
        synchronized (acks) {
            if (!durable.isBefore(pos)) {
                return;
            }
        }
        PeerLink l = link;
        if (l == null) {
            throw new IOException("no link to " + peer);
        }
        try {
            Frame r = reply(l.request(new Wire.Out(Wire.FORCE, id, 16).putPosition(pos).frame()), 30_000);
            updateAcks(Wire.Ack.read(r));
            synchronized (acks) {
                if (durable.isBefore(pos)) {
                    // it holds less than pos: what it lacks must stay in the journal or the map
                    throw new IOException("peer " + peer + " holds " + durable + " durably, not " + pos);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted forcing " + peer);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("peer " + peer + " did not make " + pos + " durable: " + rootMessage(e), e);
        }
    }

    // ---- pulled stream ------------------------------------------------------------------------

    /** Serves a PULL: records after {@code after}, never past what every in-sync sync peer holds. */
    Frame servePull(Position after, long maxBytes, Position peerDurable, Position peerApplied) throws IOException {
        Journal j = group.journal;
        if (j == null) {
            throw new IOException(group.notAttached());
        }
        updateAcks(new Wire.Ack(after, peerDurable, peerApplied, true, rec.outdated()));
        maybeNotePeerDurable();
        if (rec.suspended()) {
            // a suspended pair sends nothing; its cursor keeps what the peer will need on resume
            return Wire.records(id, List.of(), 0, false, j.retainedStart(), j.head(), false, 0, 0, 0);
        }
        boolean cascade = cascaded();
        if (group.journalOnly && needsWhole && !relaying) {
            // the peer's journal does not continue this one: it waits for a relayed whole pass
            return Wire.records(id, List.of(), 0, false, j.retainedStart(), j.head(), false, 0, j.status().capacityBytes(),
                    repl.load().cpuBusy());
        }
        if (cascade && !group.journalOnly) {
            if (upstreamRebased) {
                // this journal no longer continues the peer's: a pass restarts it
                poke();
                return Wire.records(id, List.of(), 0, true, j.retainedStart(), j.head(), true, 0, 0, 0);
            }
            if (!sourceConsistent()) {
                // records after its own resync began would take the peer past writes it lacks
                return Wire.records(id, List.of(), 0, false, j.retainedStart(), j.head(), false, 0, j.status().capacityBytes(),
                        repl.load().cpuBusy());
            }
        }
        Position limit = repl.syncFloor(group, j.head());
        if (cascade) {
            // only what this copy holds durably: after a crash here it may have lost an unforced
            // tail, and the peer must never hold records this journal no longer continues to
            limit = Position.min(limit, j.durable());
        }
        // one reply stays under the transport's frame limit (64 MiB) even with the record that
        // crosses maxBytes (at most 32 MiB)
        maxBytes = Math.min(maxBytes, MAX_PULL_BYTES);
        List<JournalRecord> out = new ArrayList<>();
        int bytes = 0;
        boolean more = false;
        if (after.isBefore(limit)) {
            try (JournalReader r = j.read(after, limit)) {
                for (JournalRecord rec = r.next(); rec != null; rec = r.next()) {
                    out.add(rec);
                    bytes += Wire.recordBytes(rec);
                    if (bytes >= maxBytes) {
                        more = rec.position().isBefore(limit);
                        break;
                    }
                }
            } catch (JournalGapException e) {
                if (group.journalOnly) {
                    needsWhole = true; // no map here: only a whole pass from the source restarts the peer
                }
                gapSeen = true; // the records went into the map: the driver resyncs and rebases the peer
                poke();
                return Wire.records(id, List.of(), 0, true, e.retainedStart(), j.head(), true, 0, 0, 0);
            }
        }
        if (!out.isEmpty()) {
            sent = out.get(out.size() - 1).position();
            rate.add(bytes);
        }
        // The management information the puller paces by: this site's load, and the part of the
        // journal held for this peer (what it has not pulled yet), which is what a fold would take
        // into its map once the journal runs out of room. Total usage says little: the journal
        // reclaims only at a quarter free, so it is often three quarters full with nothing owed.
        var st = j.status();
        Position through = out.isEmpty() ? after : out.get(out.size() - 1).position();
        long owed = Math.max(0, st.head().seq() - through.seq());
        long owedBytes = st.records() == 0 ? 0 : (long) ((double) st.usedBytes() * Math.min(owed, st.records()) / st.records());
        return Wire.records(id, out, bytes, false, j.retainedStart(), j.head(), more, owedBytes, st.capacityBytes(),
                repl.load().cpuBusy());
    }

    // ---- resync -------------------------------------------------------------------------------

    /** Copies the map's blocks, each tagged with our head when it was read. */
    private void resyncPass(PeerLink l, Journal j) throws Exception {
        resyncing = true;
        long generation = mapGeneration.get();
        long sourceResyncs = upstreamResyncs.get();
        try {
            List<int[]> vols = new ArrayList<>();
            for (int v : map.volumes()) {
                vols.add(new int[] {v});
            }
            resyncTotal = map.blocks();
            resyncDone.set(0);
            state(rec.fullCopyDone() ? "resyncing" : "initial-copy", resyncTotal + " blocks to copy");
            for (int[] v : vols) {
                VolumeSlot slot = group.volumes.get(v[0]);
                if (slot == null) {
                    continue;
                }
                List<long[]> runs = new ArrayList<>();
                map.forEachRun(v[0], (first, count) -> runs.add(new long[] {first, count}));
                copyRuns(l, slot, runs);
            }
            if (cascaded() && (upstreamResyncs.get() != sourceResyncs || !sourceConsistent())) {
                // part of what was copied came from an image its own resync was changing: the
                // peer stays inconsistent, and the map (which holds those blocks) is copied again
                LOG.info("Pair {}: {} here began a resync of its own during the pass to {}; the pass is redone", id,
                        group.name, peer);
                return;
            }
            Position end = j.head();
            Frame f = new Wire.Out(Wire.RESYNC_END, id, 16).putPosition(end).frame();
            updateAcks(Wire.Ack.read(reply(l.request(f, RESYNC_END_MILLIS), RESYNC_END_MILLIS + 5_000)));
            synchronized (mapLock) {
                if (mapGeneration.get() == generation) {
                    map.clear();
                    map.persist(map.coveredThrough());
                }
            }
            if (!rec.fullCopyDone()) {
                rec = repl.store().update(id, PairStore.PairRecord::withFullCopyDone);
            }
            LOG.info("Pair {}: resync pass to {} done ({} blocks), consistent once it applies through {}", id, peer,
                    resyncDone.get(), end);
        } finally {
            resyncing = false;
        }
    }

    private void copyRuns(PeerLink l, VolumeSlot slot, List<long[]> runs) throws Exception {
        boolean cascade = cascaded();
        Wire.Out batch = null;
        int entries = 0;
        int bytes = 0;
        // the runs sent since the last mark: forgotten once the peer holds them durably. Not in a
        // cascade, whose pass is redone whole when its own source's resync changed the image.
        List<long[]> unmarked = new ArrayList<>();
        long unmarkedBytes = 0;
        long markGeneration = mapGeneration.get();
        for (long[] run : runs) {
            long block = run[0];
            long end = Math.min(run[0] + run[1], slot.size / VolumeService.BLOCK_SIZE);
            while (block < end && !stopped) {
                checkBroken(); // the link failed: replies may never come, the session must end
                maybeNotePeerDurable();
                int n = (int) Math.min(CHUNK_BLOCKS, end - block);
                long offset = block * VolumeService.BLOCK_SIZE;
                int len = n * VolumeService.BLOCK_SIZE;
                ByteBuffer buf = ByteBuffer.allocate(len);
                Position tag;
                repl.engine().gateEnter(slot);
                try {
                    slot.locks.lock(offset, len);
                    try {
                        // read under the block lock: every record through the tag is in the data
                        tag = imagePosition(group.journal, cascade);
                        slot.volume.read(buf, offset);
                    } finally {
                        slot.locks.unlock(offset, len);
                    }
                } finally {
                    repl.engine().gateExit();
                }
                buf.flip();
                boolean zero = isZero(buf);
                if (batch == null) {
                    batch = new Wire.Out(Wire.RESYNC_DATA, id, BATCH_BYTES + 4096);
                    entries = 0;
                    bytes = 0;
                }
                batch.putInt(slot.id).putLong(block).putInt(n).putPosition(tag).putBoolean(zero);
                if (!zero) {
                    batch.putBytes(buf);
                    bytes += len;
                }
                entries++;
                unmarked.add(new long[] {block, n});
                unmarkedBytes += len;
                block += n;
                resyncDone.addAndGet(n);
                if (bytes >= BATCH_BYTES || entries >= 4096) {
                    sendResync(l, batch, bytes);
                    batch = null;
                    if (unmarkedBytes >= resyncMarkBytes && !cascade) {
                        markGeneration = markProgress(l, slot, unmarked, markGeneration);
                        unmarked.clear();
                        unmarkedBytes = 0;
                    }
                }
            }
        }
        if (batch != null) {
            sendResync(l, batch, bytes);
        }
        awaitDrained();
        checkBroken();
    }

    /**
     * Once the peer answered every block sent, RESYNC_MARK makes them durable there; then they
     * leave the map (persisted), and a pass broken later (either site killed, the link lost)
     * resumes from what is left. Runs are kept when the map changed since they were read (a
     * fold may have added a later write to one of their blocks).
     *
     * @return the map generation the next runs are read in
     */
    private long markProgress(PeerLink l, VolumeSlot slot, List<long[]> runs, long generation) throws Exception {
        awaitDrained();
        checkBroken();
        Frame reply = reply(l.request(new Wire.Out(Wire.RESYNC_MARK, id, 8).frame(), RESYNC_END_MILLIS),
                RESYNC_END_MILLIS + 5_000);
        Wire.In in = new Wire.In(reply);
        updateAcks(Wire.Ack.read(in));
        boolean kept = in.getBoolean();
        synchronized (mapLock) {
            long now = mapGeneration.get();
            if (kept && now == generation) {
                long n = 0;
                for (long[] r : runs) {
                    for (long b = r[0]; b < r[0] + r[1]; b++) {
                        map.remove(slot.id, b);
                    }
                    n += r[1];
                }
                map.persist(map.coveredThrough());
                LOG.debug("Pair {}: {} holds {} more blocks of the pass durably; {} left in the map", id, peer, n,
                        map.blocks());
            }
            return now;
        }
    }

    private void sendResync(PeerLink l, Wire.Out batch, int bytes) throws InterruptedException {
        awaitWindow();
        sendPush(l, batch.frame(), bytes + 64);
    }

    private void awaitDrained() throws InterruptedException {
        synchronized (acks) {
            while (inflightBytes.get() > 0 && !stopped && broken == null) {
                acks.wait(100);
            }
        }
    }

    private static boolean isZero(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        while (d.remaining() >= 8) {
            if (d.getLong() != 0) {
                return false;
            }
        }
        while (d.hasRemaining()) {
            if (d.get() != 0) {
                return false;
            }
        }
        return true;
    }

    // ---- status -------------------------------------------------------------------------------

    PairInfo info() {
        Journal j = group.journal;
        Position head = j == null ? Position.ZERO : j.head();
        Position jn;
        Position du;
        Position ap;
        synchronized (acks) {
            jn = journaled;
            du = durable;
            ap = applied;
        }
        long lag = Math.max(0, head.seq() - jn.seq());
        double lagSeconds = 0;
        long lagBytes = 0;
        if (lag > 0 && j != null) {
            try (JournalReader r = j.read(jn.isBefore(j.retainedStart()) ? j.retainedStart() : jn, head)) {
                JournalRecord first = r.next();
                if (first != null) {
                    lagSeconds = Math.max(0, (System.currentTimeMillis() - first.time()) / 1000.0);
                }
            } catch (IOException | RuntimeException e) {
                lagSeconds = -1;
            }
            lagBytes = lag * 4096; // estimate: records are mostly block writes
        }
        DifferenceMap m = map;
        return new PairInfo(id, group.name, peer, "primary", rec.mode(), rec.policy(), state, detail, rec.outdated(),
                m == null || m.blocks() == 0 && rec.fullCopyDone(), head, sent, jn, du, ap, lag, lagBytes, lagSeconds,
                rate.perSecond(), resyncTotal, resyncDone.get(), m == null ? 0 : m.blocks(), 0, "", since);
    }

    /** Bytes per second over the last few seconds. */
    static final class Rate {
        private final long[] buckets = new long[8];
        private long bucketSecond;

        synchronized void add(long bytes) {
            roll();
            buckets[(int) (bucketSecond % buckets.length)] += bytes;
        }

        private void roll() {
            long now = System.currentTimeMillis() / 1000;
            while (bucketSecond < now) {
                bucketSecond++;
                buckets[(int) (bucketSecond % buckets.length)] = 0;
                if (now - bucketSecond > buckets.length) {
                    bucketSecond = now;
                    java.util.Arrays.fill(buckets, 0);
                }
            }
        }

        synchronized double perSecond() {
            roll();
            long sum = 0;
            for (int i = 1; i < buckets.length; i++) {
                sum += buckets[(int) ((bucketSecond - i + buckets.length * 2L) % buckets.length)];
            }
            return sum / (double) (buckets.length - 1);
        }
    }
}
