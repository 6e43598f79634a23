package io.doppel.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.Position;

/** A consistency group at run time: its journal, member volumes and write-path state. */
final class Group {

    enum State {
        /** A service it needs is absent; I/O is held at the gate. */
        HOLDING("holding-io"),
        RECOVERING("recovering"),
        SERVING("serving"),
        /** A volume write failed after its record was journaled; new writes are refused until the retry succeeds. */
        STALLED("stalled"),
        /** Opening the journal failed; I/O fails. */
        FAILED("failed");

        final String label;

        State(String label) {
            this.label = label;
        }
    }

    /** A journaled record whose volume write failed; retried in seq order. */
    record Pending(Position position, int volumeId, String error) {
    }

    final String name;
    final int id;
    final long journalCapacity;
    /**
     * A journal but no volume data (the middle site of a cascade): its volume slots carry names,
     * ids and sizes for its peers, and their files are never written; records are relayed, not
     * applied.
     */
    final boolean journalOnly;
    final Map<Integer, VolumeSlot> volumes = new ConcurrentHashMap<>();

    /** Null while the journal service is absent. */
    volatile Journal journal;
    volatile AppliedTracker tracker = new AppliedTracker(Position.ZERO);
    volatile State state = State.HOLDING;
    volatile String detail = "journal not open yet";
    /** Activity-log extents hot at the last unclean stop: they may differ from any peer. */
    volatile List<ActivityExtent> crashExtents = List.of();

    /** Journal bytes appended since the last checkpoint began; past a quarter of the journal one runs in the background. */
    final java.util.concurrent.atomic.AtomicLong sinceCheckpoint = new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicBoolean checkpointQueued = new java.util.concurrent.atomic.AtomicBoolean();
    /** A quarter of the journal's capacity, read when the journal opens. */
    volatile long checkpointEvery = Long.MAX_VALUE;

    /** Held around every append (and while a pair switches to live pushing), so peers receive records in seq order. */
    final java.util.concurrent.locks.ReentrantLock appendLock = new java.util.concurrent.locks.ReentrantLock();
    /** Pairs for which this group is the source. */
    volatile PrimaryPair[] primaries = new PrimaryPair[0];
    /** Whether a host write may wait for a peer (a sync pair). */
    volatile boolean waitsForPeers;
    /** Set when this group is the target of a pair: host writes are refused. */
    volatile TargetPair target;
    /**
     * Why host writes are refused while the group gives its primary role up (a planned
     * failback, or a later reign met): set before the role goes, cleared once it is a target.
     */
    volatile String writesRefused;

    /** Waits until no host write is between its checks and its volume write (each holds its blocks' lock). */
    void quiesceWriters() {
        for (VolumeSlot s : volumes.values()) {
            s.locks.lockAll();
            s.locks.unlockAll();
        }
    }

    /** Guarded by itself. */
    final TreeMap<Long, Pending> pending = new TreeMap<>();
    /**
     * Orders checkpoints with a copy's journal rebase. A lock, not a monitor: the journal asks
     * for a checkpoint while it holds its own reclaim lock, which a rebase under this lock
     * needs, so that request only tries it (see Engine.reclaim).
     */
    final java.util.concurrent.locks.ReentrantLock checkpointLock = new java.util.concurrent.locks.ReentrantLock();

    Group(String name, int id, long journalCapacity, boolean journalOnly) {
        this.name = name;
        this.id = id;
        this.journalCapacity = journalCapacity;
        this.journalOnly = journalOnly;
    }

    List<String> volumeNames() {
        List<String> names = new ArrayList<>();
        volumes.values().forEach(v -> names.add(v.name));
        names.sort(null);
        return names;
    }

    /** Why the group has no journal to work with: its state and detail (a damaged journal names its file). */
    String notAttached() {
        String d = detail;
        return "group " + name + " is not attached (" + state.label + (d == null || d.isEmpty() ? "" : ": " + d) + ")";
    }

    void state(State s, String why) {
        this.detail = why;
        this.state = s;
    }

    @Override
    public String toString() {
        return name;
    }
}
