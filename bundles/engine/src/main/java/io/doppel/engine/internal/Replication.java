package io.doppel.engine.internal;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.doppel.api.bitmap.DifferenceMaps;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.failover.FailoverPolicy;
import io.doppel.api.failover.FailoverStatus;
import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.Position;
import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerLink;
import io.doppel.api.transport.Transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pairs of this site: their persisted records, the running primary and target ends, the
 * frames from peers, and the services they need (transport, difference maps, copy modes),
 * which may come and go at run time.
 */
final class Replication implements PairService {

    private static final Logger LOG = LoggerFactory.getLogger(Replication.class);

    private final Engine engine;
    private final PairStore store;
    private final ExecutorService executor;
    private final Map<String, CopyMode> modes = new ConcurrentHashMap<>();
    /**
     * Whether each copy mode holds host writes for its peers, as last seen bound: while a mode's
     * bundle is updated, its pairs' writes wait for it only if it did. The two modes pair-create
     * accepts are known before their bundles start.
     */
    private final Map<String, Boolean> modeWaits = new ConcurrentHashMap<>(Map.of("sync", true, "async", false));
    /** Bundle and version providing each bound mode. */
    private final Map<CopyMode, String[]> providers = new ConcurrentHashMap<>();
    /** Notified when a copy mode is bound. */
    private final Object modeWake = new Object();
    private final Map<String, PrimaryPair> primaries = new ConcurrentHashMap<>();
    private final Map<String, TargetPair> targets = new ConcurrentHashMap<>();
    /** Pairs that could not start, by id: listed as "failed" with the cause until they start or are deleted. */
    private final Map<String, FailedPair> failed = new ConcurrentHashMap<>();

    private record FailedPair(PairStore.PairRecord rec, String why, java.time.Instant since) {
        PairInfo info() {
            return new PairInfo(rec.id(), rec.group(), rec.peer(), rec.primary() ? "primary" : "secondary", rec.mode(),
                    rec.policy(), "failed", why, rec.outdated(), rec.consistent(), Position.ZERO, Position.ZERO,
                    Position.ZERO, Position.ZERO, Position.ZERO, 0, 0, 0, 0, 0, 0, 0, 0, "", since);
        }
    }
    private volatile Transport transport;
    private volatile DifferenceMaps maps;
    private volatile SiteLoad load = new LoadMeter();

    Replication(Engine engine, PairStore store) throws IOException {
        this.engine = engine;
        this.store = store;
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "doppel-replication");
            t.setDaemon(true);
            return t;
        });
        store.load();
    }

    /** This site's load, read by pull pacing on both ends. */
    SiteLoad load() {
        return load;
    }

    /** Replaces the load source (tests set a load instead of measuring the machine's). */
    void load(SiteLoad l) {
        load = l;
    }

    Engine engine() {
        return engine;
    }

    PairStore store() {
        return store;
    }

    ExecutorService executor() {
        return executor;
    }

    DifferenceMaps maps() throws IOException {
        DifferenceMaps m = maps;
        if (m == null) {
            throw new IOException("the difference-map service is absent");
        }
        return m;
    }

    String siteId() {
        return engine.site().id();
    }

    CopyMode mode(String name) {
        return modes.get(name);
    }

    PeerLink link(String peer) {
        Transport t = transport;
        if (t == null) {
            return null;
        }
        try {
            return t.link(peer);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    // ---- services -----------------------------------------------------------------------------

    void transport(Transport t) {
        this.transport = t;
        primaries.values().forEach(PrimaryPair::poke);
    }

    void maps(DifferenceMaps m) {
        synchronized (this) {
            this.maps = m;
        }
        // Maps live in the service: restart the primaries on the new one.
        for (Group g : engine.groupMap().values()) {
            if (g.journal != null) {
                detach(g);
                attach(g);
            }
        }
    }

    /**
     * Waits up to {@code millis} for the pair's copy mode to be bound again (its bundle is being
     * updated); null when it is still absent.
     */
    private CopyMode awaitMode(PrimaryPair p, long millis) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (modeWake) {
            while (true) {
                CopyMode m = modes.get(p.rec.mode());
                long left = deadline - System.nanoTime();
                if (m != null || left <= 0) {
                    return m;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(modeWake, Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for copy mode " + p.rec.mode());
                }
            }
        }
    }

    /**
     * Why this engine cannot run a pair in {@code m} (a transfer, an apply policy or a codec it
     * does not carry yet), or null when it can.
     */
    static String unsupported(CopyMode m) {
        if (m.transfer() != CopyMode.Transfer.PUSH && m.transfer() != CopyMode.Transfer.PULL) {
            return "copy mode " + m.name() + " needs transfer " + m.transfer() + ", which this engine does not carry yet";
        }
        if (m.apply() != CopyMode.Apply.CONTINUOUS) {
            return "copy mode " + m.name() + " needs apply " + m.apply() + ", which this engine does not carry yet";
        }
        if (!"none".equals(m.codec())) {
            return "copy mode " + m.name() + " needs codec " + m.codec() + ", which this engine does not carry yet";
        }
        return null;
    }

    void modeAdded(CopyMode m) {
        modeAdded(m, "", "");
    }

    /** {@code bundle} and {@code version}: who provides the mode, for the log and mode-list. */
    synchronized void modeAdded(CopyMode m, String bundle, String version) {
        providers.put(m, new String[] {bundle, version});
        CopyMode serving = pickMode(m.name());
        modes.put(m.name(), serving);
        modeWaits.put(m.name(), serving.waitsForPeer());
        for (PrimaryPair p : primaries.values()) {
            if (p.rec.mode().equals(m.name())) {
                p.modeGaveUp = false;
            }
        }
        synchronized (modeWake) {
            modeWake.notifyAll();
        }
        for (Group g : engine.groupMap().values()) {
            pairsChanged(g);
        }
        primaries.values().forEach(PrimaryPair::poke);
        LOG.info("Copy mode {} available{}{}", m.name(), bundle.isEmpty() ? "" : " from " + bundle + " " + version,
                serving == m ? "" : "; " + describe(serving) + " still serves it (the higher version)");
    }

    synchronized void modeRemoved(CopyMode m) {
        providers.remove(m);
        CopyMode next = pickMode(m.name());
        if (next == null) {
            modes.remove(m.name(), m);
        } else {
            modes.put(m.name(), next);
            modeWaits.put(m.name(), next.waitsForPeer());
        }
        for (Group g : engine.groupMap().values()) {
            pairsChanged(g);
        }
        primaries.values().forEach(PrimaryPair::poke);
        LOG.info("Copy mode {} removed{}", m.name(), next == null ? "" : "; " + describe(next) + " serves it now");
    }

    /**
     * Of the bound providers of a mode name, the one of the highest bundle version: during a
     * feature upgrade the old and the new bundle may both be active for a while, and pairs run
     * in the newer one. Null when none is bound.
     */
    private CopyMode pickMode(String name) {
        CopyMode best = null;
        for (Map.Entry<CopyMode, String[]> e : providers.entrySet()) {
            if (e.getKey().name().equals(name)
                    && (best == null || compareVersions(e.getValue()[1], providers.get(best)[1]) > 0)) {
                best = e.getKey();
            }
        }
        return best;
    }

    private String describe(CopyMode m) {
        String[] by = providers.getOrDefault(m, new String[] {"", ""});
        return by[0].isEmpty() ? "another provider" : by[0] + " " + by[1];
    }

    /** OSGi version order: major, minor, micro numerically, then the qualifier as text; "" lowest. */
    static int compareVersions(String x, String y) {
        String[] a = x.split("\\.", 4);
        String[] b = y.split("\\.", 4);
        for (int i = 0; i < 3; i++) {
            int c = Long.compare(number(a, i), number(b, i));
            if (c != 0) {
                return c;
            }
        }
        return (a.length > 3 ? a[3] : "").compareTo(b.length > 3 ? b[3] : "");
    }

    private static long number(String[] parts, int i) {
        try {
            return i < parts.length && !parts[i].isEmpty() ? Long.parseLong(parts[i]) : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    void linkChanged(PeerInfo info) {
        for (PrimaryPair p : primaries.values()) {
            if (p.peer.equals(info.name())) {
                if (!info.connected()) {
                    p.live = false;
                }
                p.poke();
            }
        }
    }

    // ---- groups attach and detach --------------------------------------------------------------

    /** The pairs this site is the target of. */
    java.util.Collection<TargetPair> targetPairs() {
        return targets.values();
    }

    /** The group has pairs here, but none runs (the difference-map service is absent). */
    boolean pairsDetached(Group g) {
        return g.target == null && g.primaries.length == 0 && store.hasPairs(g.name);
    }

    /** Whether {@code group} is the target of a pair at this site (as persisted). */
    boolean isTargetGroup(String group) {
        return store.all().stream().anyMatch(r -> !r.primary() && r.group().equals(group));
    }

    /** The group's journal and volumes are open: start its pairs. */
    synchronized void attach(Group g) {
        if (maps == null) {
            return;
        }
        for (PairStore.PairRecord r : store.all()) {
            if (!r.group().equals(g.name)) {
                continue;
            }
            if (primaries.containsKey(r.id()) || targets.containsKey(r.id())) {
                continue; // started already (a primary's OPEN made the target end while this group opened)
            }
            try {
                if (r.primary()) {
                    PrimaryPair p = new PrimaryPair(this, g, r);
                    addCrashExtents(g, p);
                    // started again with the group (a restart): a peer may rule the pair by now
                    p.checkReign(engine.settings().reignCheckMillis());
                    p.start(g.journal);
                    primaries.put(r.id(), p);
                } else {
                    TargetPair t = new TargetPair(this, g, r);
                    g.target = t;
                    targets.put(r.id(), t);
                    t.start();
                }
                failed.remove(r.id());
            } catch (IOException | RuntimeException e) {
                if (!r.primary()) {
                    TargetPair t = targets.remove(r.id());
                    if (t != null) {
                        t.shutdown();
                    }
                    g.target = null; // the group still holds host writes: it has pairs, none runs
                }
                String why = PrimaryPair.rootMessage(e);
                failed.put(r.id(), new FailedPair(r, why, Instant.now()));
                LOG.error("Pair {} of group {} cannot start: {}", r.id(), g.name, why, e);
            }
        }
        g.crashExtents = List.of();
        pairsChanged(g);
    }

    /** After an unclean stop the hot extents may differ from every peer: they join each primary's map. */
    private void addCrashExtents(Group g, PrimaryPair p) throws IOException {
        List<ActivityExtent> hot = g.crashExtents;
        Journal j = g.journal;
        if (hot.isEmpty() || j == null) {
            return;
        }
        long extent = j.activityLog().extentBytes();
        var map = maps().open(p.id);
        for (ActivityExtent e : hot) {
            VolumeSlot s = g.volumes.get(e.volumeId());
            if (s != null) {
                long off = e.index() * extent;
                map.add(e.volumeId(), off, Math.min(extent, s.size - off));
            }
        }
        map.persist(map.coveredThrough());
        LOG.info("Pair {}: {} activity-log extent(s) hot at the unclean stop join the map for {}", p.id, hot.size(),
                p.peer);
    }

    /** The group's journal is about to close: stop its pairs. */
    synchronized void detach(Group g) {
        for (PrimaryPair p : List.copyOf(primaries.values())) {
            if (p.group == g) {
                p.stop();
                primaries.remove(p.id);
            }
        }
        for (TargetPair t : List.copyOf(targets.values())) {
            if (t.group == g) {
                t.shutdown();
                targets.remove(t.id);
            }
        }
        g.target = null;
        failed.values().removeIf(f -> f.rec().group().equals(g.name));
        pairsChanged(g);
    }

    /** Deletes a pair that could not start: at this site only, its record, map and cursor. */
    private boolean deleteFailed(String group, String peer, boolean primary) throws IOException {
        for (FailedPair f : failed.values()) {
            PairStore.PairRecord r = f.rec();
            if (r.group().equals(group) && r.peer().equals(peer) && r.primary() == primary) {
                Group g = engine.groupMap().get(group);
                Journal j = g == null ? null : g.journal;
                if (primary && j != null) {
                    j.cursor(PrimaryPair.cursorName(r.id()), null).remove();
                }
                if (maps != null) {
                    maps.delete(r.id());
                }
                store.remove(r.id());
                failed.remove(r.id());
                if (g != null) {
                    pairsChanged(g);
                }
                LOG.warn("Pair {} (group {}, {} {}), which could not start ({}), deleted at this site", r.id(), group,
                        primary ? "to" : "from", peer, f.why());
                return true;
            }
        }
        return false;
    }

    void close() {
        for (Group g : engine.groupMap().values()) {
            detach(g);
        }
        // No shutdownNow first: a PULL being served reads the journal, and an interrupt during
        // FileChannel I/O closes the segment file.
        executor.shutdown();
        try {
            if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Refreshes what the write path reads: the group's primaries and whether writes may wait for a peer. */
    void pairsChanged(Group g) {
        List<PrimaryPair> list = new ArrayList<>();
        boolean waits = false;
        for (PrimaryPair p : primaries.values()) {
            if (p.group == g) {
                list.add(p);
                CopyMode m = modes.get(p.rec.mode());
                waits |= m == null || m.waitsForPeer();
            }
        }
        g.primaries = list.toArray(new PrimaryPair[0]);
        g.waitsForPeers = waits;
    }

    /** What an async peer may pull: nothing any in-sync sync peer of the group lacks. */
    Position syncFloor(Group g, Position head) {
        Position floor = head;
        for (PrimaryPair p : g.primaries) {
            if (p.gating) {
                floor = Position.min(floor, p.info().journaled());
            }
        }
        return floor;
    }

    // ---- frames -------------------------------------------------------------------------------

    CompletionStage<Frame> handle(String peer, Frame frame) {
        Wire.In in;
        try {
            in = new Wire.In(frame);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        String pairId = in.pairId;
        if (frame.type() == Wire.OPEN) {
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return open(peer, pairId, in);
                } catch (IOException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, executor);
        }
        if (frame.type() == Wire.PULL) {
            PrimaryPair p = primaries.get(pairId);
            if (p == null || !p.peer.equals(peer)) {
                return CompletableFuture.failedFuture(new IOException("no pair " + pairId + " with peer " + peer
                        + " at this site"));
            }
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return p.servePull(in.getPosition(), in.getLong(), in.getPosition(), in.getPosition());
                } catch (IOException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, executor);
        }
        if (frame.type() == Wire.RESYNC_WANTED) {
            PrimaryPair p = primaries.get(pairId);
            if (p == null || !p.peer.equals(peer)) {
                return CompletableFuture.failedFuture(new IOException("no pair " + pairId + " with peer " + peer
                        + " at this site"));
            }
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return p.wholePassWanted(in.getString());
                } catch (IOException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, executor);
        }
        TargetPair t = targets.get(pairId);
        if (t == null) {
            PrimaryPair mine = primaries.get(pairId);
            if (mine != null && mine.peer.equals(peer)) {
                // this site took the pair over: its former primary must stop, not count it lost
                return CompletableFuture.completedFuture(Wire.superseded(pairId, reign(mine.group),
                        "this site took the pair over"));
            }
        }
        if (t == null || !t.peer.equals(peer)) {
            return CompletableFuture.failedFuture(new IOException("no pair " + pairId + " from peer " + peer
                    + " at this site"));
        }
        return switch (frame.type()) {
            case Wire.PUSH -> t.inOrder(() -> t.push(in));
            case Wire.FORCE -> t.inOrder(() -> t.force(in));
            case Wire.RESYNC_BEGIN -> t.inOrder(() -> t.resyncBegin(in));
            case Wire.RESYNC_DATA -> t.inOrder(() -> t.resyncData(in));
            case Wire.RESYNC_END -> t.inOrder(() -> t.resyncEnd(in));
            case Wire.OUTDATED -> t.inOrder(() -> t.outdated(in));
            case Wire.RESIZE -> t.inOrder(() -> t.resize(in));
            case Wire.HANDOVER -> t.inOrder(() -> handover(t, in));
            case Wire.RESYNC_MARK -> t.inOrder(() -> t.resyncMark(in));
            case Wire.CLOSE -> t.inOrder(() -> closeTarget(t));
            default -> CompletableFuture.failedFuture(new IOException("unknown replication message " + frame.type()));
        };
    }

    /** OPEN from a primary: the pair's target end here (made on first contact). */
    private Frame open(String peer, String pairId, Wire.In in) throws IOException {
        Wire.Open open = Wire.Open.read(in);
        String groupName = open.group();
        PrimaryPair mine = primaries.get(pairId);
        if (mine != null && mine.peer.equals(peer)) {
            // both sites are the pair's primary: the later reign rules, the other becomes its secondary
            Wire.Reign here = reign(mine.group);
            if (here.compareTo(open.reign()) > 0) {
                LOG.warn("Pair {}: {} opens {} as its primary in {}, but this site rules it in {}; it is told so", pairId,
                        peer, groupName, open.reign(), here);
                return Wire.superseded(pairId, here, "this site rules the pair in a later reign");
            }
            demote(mine, open.reign());
        }
        TargetPair t;
        synchronized (this) {
            t = targets.get(pairId);
            if (t == null) {
                refuseSecondTarget(groupName, pairId);
            }
        }
        if (t == null) {
            // outside this object's lock: attaching groups takes the engine's lock first, then this one
            Group g = engine.targetGroup(groupName);
            synchronized (this) {
                t = targets.get(pairId); // the group's attach may have started it meanwhile
                if (t == null) {
                    refuseSecondTarget(groupName, pairId);
                    if (g.primaries.length > 0) {
                        throw new IOException("group " + groupName + " here is itself a source of pairs; it cannot be a target");
                    }
                    PairStore.PairRecord r = store.byId(pairId).orElse(null);
                    if (r == null) {
                        r = new PairStore.PairRecord(pairId, groupName, peer, false, "", "", false, false, false, false,
                                Position.ZERO);
                        store.add(r);
                        LOG.info("Pair {}: group {} here becomes the target of {}", pairId, groupName, peer);
                    }
                    t = new TargetPair(this, g, r);
                    g.target = t;
                    targets.put(pairId, t);
                    t.start();
                }
            }
        }
        if (!t.peer.equals(peer)) {
            throw new IOException("pair " + pairId + " belongs to peer " + t.peer + ", not " + peer);
        }
        TargetPair tp = t;
        try {
            return tp.inOrder(() -> tp.open(open)).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException(PrimaryPair.rootMessage(e), e);
        }
    }

    private Frame closeTarget(TargetPair t) throws IOException {
        executor.execute(() -> {
            synchronized (this) {
                t.shutdown();
                targets.remove(t.id);
                t.group.target = null;
            }
        });
        store.remove(t.id);
        LOG.info("Pair {}: deleted by {}; group {} here is no longer a target", t.id, t.peer, t.group.name);
        return Wire.ok(t.id);
    }

    @Override
    public synchronized void deleteTarget(String group, String peer) throws IOException {
        if (deleteFailed(group, peer, false)) {
            return;
        }
        TargetPair t = null;
        for (TargetPair c : targets.values()) {
            if (c.group.name.equals(group) && c.peer.equals(peer)) {
                t = c;
            }
        }
        if (t == null) {
            for (PrimaryPair p : primaries.values()) {
                if (p.group.name.equals(group) && p.peer.equals(peer)) {
                    throw new IllegalStateException("group " + group + " here is the primary of pair " + p.id + " to " + peer
                            + ": use pair-delete without --local");
                }
            }
            throw new IllegalArgumentException("group " + group + " here is not the target of a pair from " + peer);
        }
        // Runs on the pair's serial executor, after any message of the primary already queued.
        TargetPair target = t;
        try {
            t.inOrder(() -> {
                store.remove(target.id);
                return Wire.ok(target.id);
            }).get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IOException("cannot end pair " + t.id + " at this site: " + PrimaryPair.rootMessage(e), e);
        }
        t.shutdown();
        targets.remove(t.id);
        t.group.target = null;
        LOG.warn("Pair {}: ended at this site by the operator; group {} is no longer the target of {}, which was not told",
                t.id, group, peer);
    }

    // ---- write path hooks ---------------------------------------------------------------------

    /** Waits for the group's synchronous peers after a local write (and FLUSH/FUA durability). */
    void awaitPeers(Group g, Position pos, boolean durable, long holdMillis, long modeHoldMillis) throws IOException {
        for (PrimaryPair p : g.primaries) {
            CopyMode m = modes.get(p.rec.mode());
            if (m == null) {
                if (Boolean.FALSE.equals(modeWaits.get(p.rec.mode())) || p.modeGaveUp) {
                    // its mode never held writes for the peer, or this absence already outlasted the
                    // hold and the lost-peer policy marked the peer: nothing to wait for
                    continue;
                }
                m = awaitMode(p, modeHoldMillis);
                if (m == null) {
                    // the mode stayed away: the pair's lost-peer policy, as for a lost peer
                    if ("suspend-io".equals(p.rec.policy())) {
                        m = awaitMode(p, Long.MAX_VALUE / 4);
                    } else {
                        p.modeAbsent(pos, modeHoldMillis);
                        continue;
                    }
                }
            }
            if (!m.waitsForPeer()) {
                continue;
            }
            long timeout = "suspend-io".equals(p.rec.policy()) ? Long.MAX_VALUE / 4 : holdMillis;
            p.awaitJournaled(pos, timeout);
            if (durable) {
                p.awaitDurable(pos, timeout);
            }
        }
    }

    /** A paired volume grows only after every peer confirmed its target grew. */
    void resizeTargets(Group g, VolumeSlot slot, long size) throws IOException {
        for (PrimaryPair p : g.primaries) {
            PeerLink l = link(p.peer);
            if (l == null || !l.isConnected()) {
                throw new IllegalStateException("volume " + slot.name + " is paired with " + p.peer
                        + ", which is not connected: it must confirm the new size first");
            }
            try {
                l.request(new Wire.Out(Wire.RESIZE, p.id, 16).putInt(slot.id).putLong(size).frame(), 60_000)
                        .get(65, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IOException("peer " + p.peer + " did not grow its copy of " + slot.name + ": "
                        + PrimaryPair.rootMessage(e), e);
            }
        }
    }

    // ---- failover: takeover and demotion -------------------------------------------------------

    /** Failover policies bound here, the first of them deciding. */
    private final List<FailoverPolicy> policies = new CopyOnWriteArrayList<>();
    /** The last failover decision per group (failover-status shows it). */
    final Map<String, String> decisions = new ConcurrentHashMap<>();

    void policyAdded(FailoverPolicy p) {
        policies.add(p);
    }

    void policyRemoved(FailoverPolicy p) {
        policies.remove(p);
    }

    FailoverPolicy policy() {
        return policies.isEmpty() ? null : policies.get(0);
    }

    /** The failover state of every paired group here. */
    synchronized List<FailoverStatus> failoverStatus() {
        List<FailoverStatus> out = new ArrayList<>();
        FailoverPolicy pol = policy();
        String policyName = pol == null ? "" : pol.name();
        for (PrimaryPair p : primaries.values()) {
            out.add(status(p.group, "primary", p.info(), p.lastFork, policyName));
        }
        for (TargetPair t : targets.values()) {
            out.add(status(t.group, "secondary", t.info(), null, policyName));
        }
        out.sort(Comparator.comparing(FailoverStatus::group)
                .thenComparing(FailoverStatus::peer));
        return out;
    }

    private FailoverStatus status(Group g, String role, PairInfo i, PrimaryPair.Fork fork,
            String policyName) {
        Journal j = g.journal;
        Wire.Reign r = reign(g);
        return new FailoverStatus(g.name, role, i.peer(), i.state(), i.detail(), r.epoch(), r.site(),
                j == null ? Position.ZERO : j.head(), i.outdated(), i.consistent(), j == null ? List.of() : j.history(),
                policyName, decisions.getOrDefault(g.name, ""), fork == null ? null : fork.at(),
                fork == null ? 0 : fork.blocks());
    }

    /** The reign of a group here: the epoch of its last record and who opened that epoch. */
    Wire.Reign reign(Group g) {
        Journal j = g.journal;
        return j == null ? new Wire.Reign(0, "") : Wire.Reign.of(j.history(), j.head());
    }

    /**
     * This site, the pair's secondary, becomes its primary: it applies what it holds, opens a
     * new epoch above every one it knows (marked by a record), and takes host writes. The
     * records it writes from now on stay in its journal for the former primary (or fold into
     * its map): the difference map that failback copies back.
     */
    public PairInfo takeover(String groupName, boolean force) throws IOException {
        TargetPair t;
        synchronized (this) {
            TargetPair asked = targets.values().stream().filter(x -> x.group.name.equals(groupName)).findFirst().orElse(null);
            if (asked != null) {
                FailoverPolicy pol = policy();
                if (pol == null) {
                    throw new IllegalStateException("no failover policy is installed here (feature doppel-failover provides"
                            + " 'manual'): takeovers are refused");
                }
                PeerLink l = link(asked.peer);
                FailoverPolicy.Decision d = pol.decide(new FailoverPolicy.TakeoverRequest(
                        groupName, siteId(), asked.peer, true, force, asked.rec.outdated(), asked.rec.consistent(),
                        l != null && l.isConnected()));
                decisions.put(groupName, (d.allowed() ? "takeover allowed" : "takeover refused") + " by policy " + pol.name()
                        + " at " + Instant.now() + ": " + d.reason());
                if (!d.allowed()) {
                    throw new IllegalStateException("failover policy " + pol.name() + " refuses the takeover of " + groupName
                            + ": " + d.reason());
                }
            }
            t = targets.values().stream().filter(x -> x.group.name.equals(groupName)).findFirst().orElse(null);
            if (t == null) {
                Group g = engine.groupMap().get(groupName);
                if (g == null) {
                    throw new IllegalArgumentException("group " + groupName + " does not exist");
                }
                throw new IllegalStateException("group " + groupName + " here is not the secondary of a pair: there is"
                        + " nothing to take over" + (g.primaries.length > 0 ? " (it is the primary already)" : ""));
            }
            Group g = t.group;
            if (g.journalOnly) {
                throw new IllegalStateException("group " + groupName + " here is journal-only: it has no volumes to serve");
            }
            Journal j = g.journal;
            if (j == null) {
                throw new IllegalStateException("group " + groupName + " is not serving");
            }
            if (t.rec.outdated() && !force) {
                throw new IllegalStateException("group " + groupName + " here is Outdated: " + t.peer
                        + " acknowledged writes after " + j.head() + " that this site lacks; doppel:takeover --force "
                        + groupName + " takes over without them (the positions after " + j.head() + " are lost)");
            }
            if (!t.rec.consistent() && !force) {
                throw new IllegalStateException("group " + groupName + " here is inconsistent: a resync from " + t.peer
                        + " is under way and its volumes are no image of the primary's writes; --force takes over anyway");
            }
            targets.remove(t.id); // frames of the pair from here on are answered SUPERSEDED
        }
        return promote(t, "takeover" + (force ? " --force" : ""), force);
    }

    /**
     * The secondary end {@code t} (already out of {@link #targets}) becomes the primary end: it
     * applies what it holds, opens a new epoch with a marker record, and the group takes host
     * writes, its blocks kept for the peer from the first write on.
     */
    private PairInfo promote(TargetPair t, String why, boolean force) throws IOException {
        String groupName = t.group.name;
        TargetPair tp = t;
        Group g = t.group;
        try {
            tp.inOrder(() -> null).get(60, TimeUnit.SECONDS); // frames already queued are done
            tp.awaitApplied(TargetPair.REBASE_APPLY_MILLIS);
        } catch (Exception e) {
            synchronized (this) {
                targets.put(tp.id, tp);
            }
            throw new IOException("taking over " + groupName + ": the records held were not applied: "
                    + PrimaryPair.rootMessage(e), e);
        }
        tp.shutdown();
        Journal j = g.journal;
        engine.checkpointGroup(g);
        Position forkAt = j.head();
        long next = j.epoch();
        for (EpochEntry x : j.history()) {
            next = Math.max(next, x.epoch());
        }
        // and above the primary's, from its last OPEN: a reign of the same number would be
        // ordered by site id, not by which came later
        for (EpochEntry x : tp.primaryHistory()) {
            next = Math.max(next, x.epoch());
        }
        next++;
        // an Outdated copy (taken over with --force) lacks writes its primary acknowledged alone:
        // at least those through the head the primary showed at its last OPEN, perhaps more
        String lacks = !tp.rec.outdated() ? "" : "; Outdated: it may lack the positions after " + forkAt
                + (tp.primaryHeadAtOpen().isAfter(forkAt) ? " (" + tp.peer + " had reached " + tp.primaryHeadAtOpen()
                        + " when it last opened the pair, and may have gone on)" : " (" + tp.peer + " may have gone on)");
        if (!lacks.isEmpty()) {
            LOG.warn("Pair {}: taking {} over{}", tp.id, groupName, lacks);
        }
        j.beginEpoch(next, siteId());
        // a record in the new epoch makes it this site's reign at once, written or not
        engine.takeoverMarker(g, why + " of " + groupName + " from " + tp.peer + " in epoch " + next
                + "; the former primary's history parts at " + forkAt + " at the latest");
        PairStore.PairRecord r;
        synchronized (this) {
            r = store.update(tp.id, x -> x.withPrimary(true).withOutdated(true).withConsistent(true, Position.ZERO)
                    .withPeerDurable(forkAt));
            PrimaryPair p = new PrimaryPair(this, g, r);
            p.reignKnown(); // this site opened the latest epoch
            p.lastDecision = why + " at " + Instant.now() + " in epoch " + next + " after " + forkAt + lacks;
            // the cursor exists before the first host write: every block written from now on is kept
            p.start(j);
            primaries.put(r.id(), p);
            pairsChanged(g);
            g.target = null;
            decisions.put(groupName, p.lastDecision);
            LOG.warn("Pair {}: took {} over from {} in epoch {} ({}); host writes are accepted here, and the blocks they touch"
                    + " are kept for {}", r.id(), groupName, tp.peer, next, why, tp.peer);
            return p.info();
        }
    }

    /** How long a planned failback waits for the peer to hold every record, and for its promotion. */
    static final long FAILBACK_MILLIS = 120_000;

    /**
     * A planned switch of the primary role to the group's peer: host writes here are refused
     * from now on (those in flight complete here), the peer receives and applies every record,
     * then opens its own epoch and takes the writes; this site becomes its secondary when the
     * peer's later reign reaches it. Nothing is copied but the records the peer lacked.
     */
    public PairInfo failback(String groupName) throws IOException, InterruptedException {
        PrimaryPair p;
        synchronized (this) {
            List<PrimaryPair> ps = primaries.values().stream().filter(x -> x.group.name.equals(groupName)).toList();
            if (ps.isEmpty()) {
                Group g = engine.groupMap().get(groupName);
                if (g == null) {
                    throw new IllegalArgumentException("group " + groupName + " does not exist");
                }
                throw new IllegalStateException("group " + groupName + " here is not the primary of a pair: run failback"
                        + " at the primary");
            }
            if (ps.size() > 1) {
                throw new IllegalStateException("group " + groupName + " has " + ps.size() + " pairs; a planned failback"
                        + " hands the role to the only peer of a group");
            }
            p = ps.get(0);
            PairInfo i = p.info();
            if (i.mapBlocks() > 0 || !i.consistent() || !("in-sync".equals(i.state()) || "replicating".equals(i.state()))) {
                throw new IllegalStateException("group " + groupName + ": " + p.peer + " is not caught up (" + i.state()
                        + (i.detail().isEmpty() ? "" : ": " + i.detail()) + ", " + i.mapBlocks()
                        + " blocks in its map); a failback waits until it holds everything");
            }
            if (p.group.writesRefused != null) {
                throw new IllegalStateException("group " + groupName + " is already giving its role up: " + p.group.writesRefused);
            }
            p.group.writesRefused = "group " + groupName + " is handing its primary role to " + p.peer
                    + " (doppel:failback); write there";
        }
        Group g = p.group;
        boolean handed = false;
        try {
            g.quiesceWriters(); // writes past their checks are journaled now; later ones are refused
            Journal j = g.journal;
            Position head = j.head();
            j.force(head);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(FAILBACK_MILLIS);
            while (true) {
                PairInfo i = p.info();
                if (!i.durable().isBefore(head) && !i.applied().isBefore(head)) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException(p.peer + " did not hold and apply " + head + " within " + FAILBACK_MILLIS
                            + " ms (it holds " + i.durable() + ", applied " + i.applied() + ")");
                }
                Thread.sleep(20);
            }
            PeerLink l = link(p.peer);
            if (l == null || !l.isConnected()) {
                throw new IOException("the link to " + p.peer + " is down");
            }
            Frame reply;
            try {
                reply = l.request(new Wire.Out(Wire.HANDOVER, p.id, 32).putPosition(head).frame(), 60_000)
                        .get(65, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                if (e.getCause() instanceof io.doppel.api.transport.RemoteException) {
                    throw e; // the peer answered that it did not take the role
                }
                // sent, but no answer: the peer may have taken the role. Writes stay refused
                // here until its next answer to OPEN says which (its later reign, or still the
                // secondary); taking them now could make both sides write after the fork.
                String why = PrimaryPair.rootMessage(e);
                g.writesRefused = "group " + groupName + " handed its primary role to " + p.peer + " (doppel:failback),"
                        + " which did not answer (" + why + "); writes wait until " + p.peer + " says whether it took it";
                p.handoverInDoubt(why);
                handed = true; // the refusal stays
                throw new IOException("failback of " + groupName + " to " + p.peer + " is in doubt: " + why + "; host"
                        + " writes here stay refused until " + p.peer + " answers again (it either took the role, and this"
                        + " site becomes its secondary, or it did not, and writes are taken here again)", e);
            }
            if (reply.type() != Wire.REPLY) {
                throw new IOException(p.peer + " did not take the role: unexpected answer " + reply.type());
            }
            handed = true;
            decisions.put(groupName, "failback to " + p.peer + " at " + Instant.now() + " after " + head);
            LOG.warn("Pair {}: {} hands group {} over at {}; this site becomes its secondary", p.id, p.peer, groupName, head);
            while (true) {
                Optional<PairInfo> now = pair(groupName, p.peer);
                if (now.isPresent() && "secondary".equals(now.get().role())) {
                    return now.get();
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException(p.peer + " took the role but its new reign did not reach this site within "
                            + FAILBACK_MILLIS + " ms");
                }
                p.poke();
                Thread.sleep(20);
            }
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("failback of " + groupName + " to " + p.peer + " failed: " + PrimaryPair.rootMessage(e), e);
        } finally {
            if (!handed) {
                g.writesRefused = null; // the role stays here: writes are taken again
            }
        }
    }

    /**
     * Ends a split-brain: the side named {@code keep} (this site's name or id, or the peer's
     * name) keeps its writes; the other side's divergent blocks are kept in its
     * {@code diverged-…} snapshot and overwritten from the kept side by one pass.
     */
    public PairInfo resolve(String groupName, String keep) throws IOException {
        PrimaryPair p;
        TargetPair t;
        synchronized (this) {
            p = primaries.values().stream().filter(x -> x.group.name.equals(groupName)).findFirst().orElse(null);
            t = targets.values().stream().filter(x -> x.group.name.equals(groupName)).findFirst().orElse(null);
        }
        if (p == null && t == null) {
            throw new IllegalArgumentException("group " + groupName + " has no pair at this site");
        }
        String peer = p != null ? p.peer : t.peer;
        SiteStore.Site site = engine.site();
        boolean mine = keep.equals(site.name()) || keep.equals(site.id());
        if (!mine && !keep.equals(peer)) {
            throw new IllegalArgumentException("--keep " + keep + " names neither this site (" + site.name() + ") nor its peer "
                    + peer);
        }
        if (p != null && !"split-brain".equals(p.info().state()) || t != null && !t.splitBrain()) {
            throw new IllegalStateException("group " + groupName + " is not in split-brain with " + peer + " (" + (p != null
                    ? p.info().state() : t.info().state()) + "); nothing to resolve");
        }
        decisions.put(groupName, "split-brain resolved at " + Instant.now() + " keeping " + (mine ? "this site's"
                : peer + "'s") + " writes");
        if (p != null && mine) {
            p.resolveKeepMine = true; // the next OPEN tells the peer to give its side up
            p.poke();
            return p.info();
        }
        if (t != null && !mine) {
            t.discardDivergence = true; // the primary's next OPEN finds this site's blocks given up
            return t.info();
        }
        if (p != null) {
            throw new IllegalStateException("this site is the primary; to keep " + peer + "'s writes, run doppel:resolve "
                    + groupName + " --keep " + peer + " at " + peer + " (it becomes the primary)");
        }
        // keep this site's writes while it is the secondary: it becomes the primary, and its
        // OPEN tells the peer to give its side up
        synchronized (this) {
            if (targets.get(t.id) != t) {
                throw new IllegalStateException("pair " + t.id + " changed meanwhile; run resolve again");
            }
            targets.remove(t.id);
        }
        promote(t, "split-brain resolved keeping this site's writes", true);
        PrimaryPair np = primaries.get(t.id);
        if (np != null) {
            np.resolveKeepMine = true;
            np.poke();
        }
        return pair(groupName, peer).orElseThrow();
    }

    /**
     * HANDOVER at the secondary: the primary stopped its writes at {@code head}; once this copy
     * holds and applied it, it becomes the primary (as a takeover, without the policy: the
     * primary asked).
     */
    private Frame handover(TargetPair t, Wire.In in) throws Exception {
        Position head = in.getPosition();
        Journal j = t.group.journal;
        if (j == null || !j.head().equals(head)) {
            throw new IOException("group " + t.group.name + " here holds " + (j == null ? "nothing" : j.head())
                    + ", not the primary's " + head + "; no handover");
        }
        if (!t.rec.consistent()) {
            throw new IOException("group " + t.group.name + " here is inconsistent; no handover");
        }
        synchronized (this) {
            if (targets.get(t.id) != t) {
                throw new IOException("pair " + t.id + " is no longer a target here");
            }
            targets.remove(t.id);
        }
        executor.execute(() -> {
            try {
                promote(t, "planned failback from " + t.peer, false);
            } catch (IOException | RuntimeException e) {
                LOG.error("Pair {}: taking the role over from {} failed; the group stays a replica", t.id, t.peer, e);
                synchronized (this) {
                    targets.putIfAbsent(t.id, t);
                }
            }
        });
        return t.ack().frame(t.id);
    }

    /**
     * The pair's primary here meets a later reign of it (a takeover elsewhere): it stops
     * accepting writes (those in flight fail) and becomes the secondary. What it wrote that the
     * other side never had is found at the next OPEN, from the fork point.
     */
    synchronized void demote(PrimaryPair p, Wire.Reign by) {
        if (primaries.get(p.id) != p) {
            return;
        }
        Group g = p.group;
        if (g.writesRefused == null) {
            g.writesRefused = "group " + g.name + " is no longer the primary here: " + p.peer + " rules it (" + by + ")";
        }
        g.quiesceWriters(); // a write past its checks is journaled now: it is among the records folded below
        try {
            p.prepareDemotion();
            p.stop();
            primaries.remove(p.id);
            pairsChanged(g);
            Journal j = g.journal;
            if (j != null) {
                // its records are in its map now (prepareDemotion): none need holding for the peer
                j.cursor(PrimaryPair.cursorName(p.id), null).remove();
            }
            // the Outdated mark stays: as the secondary's record it says this site went on alone
            // (a sync primary that marked its peer), which the next OPEN weighs (split-brain)
            PairStore.PairRecord r = store.update(p.id, x -> x.withPrimary(false));
            TargetPair t = new TargetPair(this, g, r);
            g.target = t;
            g.writesRefused = null; // the target end refuses them now
            targets.put(r.id(), t);
            t.start();
            decisions.put(g.name, "became the secondary of " + p.peer + " at " + Instant.now() + ": it rules the pair in "
                    + by);
            LOG.warn("Pair {}: {} here is now the secondary of {} ({}); host writes are refused", p.id, g.name, p.peer, by);
        } catch (IOException | RuntimeException e) {
            LOG.error("Pair {}: becoming the secondary of {} failed; host writes stay refused", p.id, p.peer, e);
            if (g.target == null) {
                g.target = new TargetPair(this, g, p.rec); // never started: it only makes the group refuse host writes
            }
        }
    }

    // ---- PairService --------------------------------------------------------------------------

    @Override
    public synchronized PairInfo create(String groupName, String peer, String mode, String policy) throws IOException {
        Group g = engine.groupMap().get(groupName);
        if (g == null) {
            throw new IllegalArgumentException("group " + groupName + " does not exist");
        }
        if (!"sync".equals(mode) && !"async".equals(mode)) {
            throw new IllegalArgumentException("mode '" + mode + "' is unknown: use sync or async");
        }
        if ((g.target != null || isTargetGroup(groupName)) && !"async".equals(mode)) {
            // a cascade: this copy's journal carries its source's records, which the next site pulls
            throw new IllegalStateException("group " + groupName + " here is the copy of pair "
                    + (g.target == null ? "(not attached)" : g.target.id + " from " + g.target.peer)
                    + "; a pair from a copy (a cascade) pulls: use --mode async, not " + mode);
        }
        if (g.journalOnly && (g.target == null && !isTargetGroup(groupName) || g.volumes.isEmpty())) {
            // its peers' copies come from its source: records through its journal, passes relayed
            throw new IllegalStateException("group " + groupName + " here is journal-only and "
                    + (g.volumes.isEmpty() ? "has no volumes yet" : "is not the target of a pair")
                    + ": create the pair from its source to this site first");
        }
        String pol = policy == null || policy.isEmpty() ? "continue" : policy;
        if (!"continue".equals(pol) && !"suspend-io".equals(pol)) {
            throw new IllegalArgumentException("lost-peer policy '" + policy + "' is unknown: use continue or suspend-io");
        }
        Transport t = transport;
        if (t == null) {
            throw new IllegalStateException("the transport is not installed (feature doppel-transport)");
        }
        if (t.peer(peer).isEmpty()) {
            throw new IllegalArgumentException("peer " + peer + " is unknown; add it with doppel:peer-add");
        }
        for (PairStore.PairRecord r : store.all()) {
            if (r.group().equals(groupName) && r.peer().equals(peer)) {
                throw new IllegalStateException("group " + groupName + " is already paired with " + peer);
            }
        }
        if (g.journal == null || maps == null) {
            throw new IllegalStateException("group " + groupName + " is not serving (or the difference-map service is absent)");
        }
        PairStore.PairRecord r = new PairStore.PairRecord(UUID.randomUUID().toString(), groupName, peer, true, mode, pol,
                false, true, false, false, Position.ZERO);
        store.add(r);
        PrimaryPair p = new PrimaryPair(this, g, r);
        p.reignKnown(); // a new pair: the peer has never ruled it
        p.start(g.journal);
        primaries.put(r.id(), p);
        pairsChanged(g);
        LOG.info("Pair {} created: group {} to {} ({}, lost peer: {})", r.id(), groupName, peer, mode, pol);
        return p.info();
    }

    private void refuseSecondTarget(String groupName, String pairId) throws IOException {
        for (PairStore.PairRecord r : store.all()) {
            if (r.group().equals(groupName) && !r.primary() && !r.id().equals(pairId)) {
                throw new IOException("group " + groupName + " here is already the target of pair " + r.id()
                        + " from " + r.peer());
            }
        }
    }

    private PrimaryPair primary(String group, String peer) {
        for (PrimaryPair p : primaries.values()) {
            if (p.group.name.equals(group) && p.peer.equals(peer)) {
                return p;
            }
        }
        for (TargetPair t : targets.values()) {
            if (t.group.name.equals(group) && t.peer.equals(peer)) {
                throw new IllegalStateException("group " + group + " here is the target of pair " + t.id + " from " + peer
                        + ": manage the pair at " + peer + " (or end it at this site only with pair-delete --local)");
            }
        }
        throw new IllegalArgumentException("group " + group + " has no pair with " + peer + " at this site"
                + " (pairs are managed at their primary)");
    }

    @Override
    public void suspend(String group, String peer) throws IOException {
        PrimaryPair p = primary(group, peer);
        p.lost("suspended by the operator", true);
        p.rec = store.update(p.id, r -> r.withSuspended(true));
        p.live = false;
        pairsChanged(p.group);
        p.poke();
    }

    @Override
    public synchronized PairInfo changeMode(String group, String peer, String mode) throws IOException {
        if (!"sync".equals(mode) && !"async".equals(mode)) {
            throw new IllegalArgumentException("mode '" + mode + "' is unknown: use sync or async");
        }
        PrimaryPair p = primary(group, peer);
        if (mode.equals(p.rec.mode())) {
            return p.info();
        }
        if (p.cascaded() && !"async".equals(mode)) {
            throw new IllegalStateException("group " + group + " here is a copy; a pair from a copy (a cascade) pulls: "
                    + "it stays async");
        }
        String from = p.rec.mode();
        p.rec = store.update(p.id, r -> r.withMode(mode, r.policy()));
        pairsChanged(p.group);
        p.modeChanged();
        LOG.info("Pair {} (group {} to {}): copy mode {} -> {}", p.id, group, peer, from, mode);
        return p.info();
    }

    @Override
    public List<io.doppel.api.copy.CopyModeInfo> copyModes() {
        List<io.doppel.api.copy.CopyModeInfo> out = new ArrayList<>();
        for (CopyMode m : modes.values()) {
            // the provider that serves the name; others bound under it wait as fallbacks
            String[] by = providers.getOrDefault(m, new String[] {"", ""});
            int n = (int) store.all().stream().filter(r -> r.mode().equals(m.name())).count();
            out.add(new io.doppel.api.copy.CopyModeInfo(m.name(), m.transfer(), m.waitsForPeer(), m.apply(), m.codec(), by[0],
                    by[1], n, unsupported(m)));
        }
        out.sort(Comparator.comparing(io.doppel.api.copy.CopyModeInfo::name));
        return out;
    }

    @Override
    public void resume(String group, String peer) throws IOException {
        PrimaryPair p = primary(group, peer);
        p.rec = store.update(p.id, r -> r.withSuspended(false));
        p.poke();
    }

    @Override
    public synchronized void delete(String group, String peer) throws IOException {
        if (deleteFailed(group, peer, true)) {
            return;
        }
        PrimaryPair p = primary(group, peer);
        p.lost("pair deleted");
        p.stop();
        primaries.remove(p.id);
        pairsChanged(p.group);
        PeerLink l = link(peer);
        if (l != null && l.isConnected()) {
            try {
                l.request(new Wire.Out(Wire.CLOSE, p.id, 0).frame()).get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("Pair {}: {} did not confirm the deletion ({}); it keeps its copy as a target until told",
                        p.id, peer, PrimaryPair.rootMessage(e));
            }
        }
        Journal j = p.group.journal;
        if (j != null) {
            j.cursor(PrimaryPair.cursorName(p.id), null).remove();
        }
        maps().delete(p.id);
        store.remove(p.id);
        LOG.info("Pair {} deleted (group {} to {})", p.id, group, peer);
    }

    @Override
    public List<PairInfo> pairs() {
        List<PairInfo> out = new ArrayList<>();
        primaries.values().forEach(p -> out.add(p.info()));
        targets.values().forEach(t -> out.add(t.info()));
        failed.values().forEach(f -> out.add(f.info()));
        out.sort(Comparator.comparing(PairInfo::group).thenComparing(PairInfo::peer));
        return out;
    }

    @Override
    public Optional<PairInfo> pair(String group, String peer) {
        return pairs().stream().filter(p -> p.group().equals(group) && p.peer().equals(peer)).findFirst();
    }

    /** Whether a volume belongs to a paired group (it cannot be deleted or added then). */
    boolean paired(Group g) {
        return g.primaries.length > 0 || g.target != null;
    }
}
