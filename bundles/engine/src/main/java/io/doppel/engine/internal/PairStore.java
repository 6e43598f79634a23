package io.doppel.engine.internal;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

import io.doppel.api.journal.Position;
import io.doppel.api.storage.Storage;

/**
 * The pairs of this site, {@code <home>/pairs}, rewritten atomically on every change. The
 * flags here are the durable facts the invariants rest on: a sync peer marked Outdated is
 * written here before the first write it lacks is acknowledged.
 */
final class PairStore {

    static final String MAGIC = "DPAR";
    /** 2 adds peerDurable; version 1 files are read with it at zero. */
    static final int VERSION = 2;

    /**
     * @param id            shared by both sites
     * @param group         group name (same at both sites)
     * @param peer          the other site's peer name
     * @param primary       this site is the source
     * @param mode          copy mode name
     * @param policy        lost-peer policy of sync pairs
     * @param outdated      the secondary lacks acknowledged writes
     * @param consistent    (secondary) the volumes are a prefix image
     * @param suspended     the operator suspended transfer
     * @param fullCopyDone  (primary) the initial copy finished once
     * @param resyncEnd     (secondary) consistent again once applied through here; ZERO when not resyncing
     * @param peerDurable   (primary) a position the secondary reported durable in its current journal
     *                      stream (recorded lazily, so at most what it reported): a secondary whose
     *                      journal later ends before it lost records it held durably
     */
    record PairRecord(String id, String group, String peer, boolean primary, String mode, String policy,
                      boolean outdated, boolean consistent, boolean suspended, boolean fullCopyDone,
                      Position resyncEnd, Position peerDurable) {

        PairRecord(String id, String group, String peer, boolean primary, String mode, String policy,
                   boolean outdated, boolean consistent, boolean suspended, boolean fullCopyDone, Position resyncEnd) {
            this(id, group, peer, primary, mode, policy, outdated, consistent, suspended, fullCopyDone, resyncEnd, Position.ZERO);
        }

        PairRecord withPeerDurable(Position d) {
            return new PairRecord(id, group, peer, primary, mode, policy, outdated, consistent, suspended, fullCopyDone,
                    resyncEnd, d);
        }

        PairRecord withOutdated(boolean v) {
            return new PairRecord(id, group, peer, primary, mode, policy, v, consistent, suspended, fullCopyDone,
                    resyncEnd, peerDurable);
        }

        PairRecord withConsistent(boolean v, Position end) {
            return new PairRecord(id, group, peer, primary, mode, policy, outdated, v, suspended, fullCopyDone, end, peerDurable);
        }

        PairRecord withSuspended(boolean v) {
            return new PairRecord(id, group, peer, primary, mode, policy, outdated, consistent, v, fullCopyDone,
                    resyncEnd, peerDurable);
        }

        PairRecord withFullCopyDone() {
            return new PairRecord(id, group, peer, primary, mode, policy, outdated, consistent, suspended, true,
                    resyncEnd, peerDurable);
        }

        PairRecord withPrimary(boolean v) {
            return new PairRecord(id, group, peer, v, mode, policy, outdated, consistent, suspended, fullCopyDone,
                    resyncEnd, peerDurable);
        }

        PairRecord withMode(String m, String p) {
            return new PairRecord(id, group, peer, primary, m, p, outdated, consistent, suspended, fullCopyDone,
                    resyncEnd, peerDurable);
        }
    }

    private final Storage storage;
    private final Path file;
    private final List<PairRecord> pairs = new ArrayList<>();
    /** Groups with a pair, read on every host write without the lock. */
    private volatile java.util.Set<String> groups = java.util.Set.of();

    PairStore(Storage storage, Path home) {
        this.storage = storage;
        this.file = home.resolve("pairs");
    }

    synchronized void load() throws IOException {
        pairs.clear();
        if (!storage.exists(file)) {
            return;
        }
        MetaFile.Versioned v = MetaFile.read(storage, file, MAGIC, 1, VERSION);
        DataInputStream in = v.in();
        int n = in.readInt();
        for (int i = 0; i < n; i++) {
            PairRecord r = new PairRecord(in.readUTF(), in.readUTF(), in.readUTF(), in.readBoolean(), in.readUTF(),
                    in.readUTF(), in.readBoolean(), in.readBoolean(), in.readBoolean(), in.readBoolean(),
                    new Position(in.readLong(), in.readLong()));
            if (v.version() >= 2) {
                r = r.withPeerDurable(new Position(in.readLong(), in.readLong()));
            }
            pairs.add(r);
        }
        reindex();
    }

    /** Whether {@code group} has a pair here (either role). */
    boolean hasPairs(String group) {
        return groups.contains(group);
    }

    private void reindex() {
        groups = pairs.stream().map(PairRecord::group).collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    private void save() throws IOException {
        List<PairRecord> copy = List.copyOf(pairs);
        MetaFile.write(storage, file, MAGIC, VERSION, out -> {
            out.writeInt(copy.size());
            for (PairRecord p : copy) {
                out.writeUTF(p.id());
                out.writeUTF(p.group());
                out.writeUTF(p.peer());
                out.writeBoolean(p.primary());
                out.writeUTF(p.mode());
                out.writeUTF(p.policy());
                out.writeBoolean(p.outdated());
                out.writeBoolean(p.consistent());
                out.writeBoolean(p.suspended());
                out.writeBoolean(p.fullCopyDone());
                out.writeLong(p.resyncEnd().epoch());
                out.writeLong(p.resyncEnd().seq());
                out.writeLong(p.peerDurable().epoch());
                out.writeLong(p.peerDurable().seq());
            }
        });
    }

    synchronized List<PairRecord> all() {
        return List.copyOf(pairs);
    }

    synchronized Optional<PairRecord> byId(String id) {
        return pairs.stream().filter(p -> p.id().equals(id)).findFirst();
    }

    synchronized void add(PairRecord p) throws IOException {
        pairs.add(p);
        try {
            save();
        } catch (IOException e) {
            pairs.remove(p);
            throw e;
        } finally {
            reindex();
        }
    }

    /** Changes one pair durably; returns the new record. */
    synchronized PairRecord update(String id, UnaryOperator<PairRecord> change) throws IOException {
        for (int i = 0; i < pairs.size(); i++) {
            PairRecord old = pairs.get(i);
            if (old.id().equals(id)) {
                PairRecord next = change.apply(old);
                if (next.equals(old)) {
                    return old;
                }
                pairs.set(i, next);
                try {
                    save();
                } catch (IOException e) {
                    pairs.set(i, old);
                    throw e;
                }
                return next;
            }
        }
        throw new IllegalArgumentException("no pair " + id);
    }

    synchronized void remove(String id) throws IOException {
        if (pairs.removeIf(p -> p.id().equals(id))) {
            reindex();
            save();
        }
    }
}
