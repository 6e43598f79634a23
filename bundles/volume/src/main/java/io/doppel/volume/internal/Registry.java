package io.doppel.volume.internal;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import io.doppel.api.volume.VolumeInfo;

/**
 * What the registry file holds: the next volume id and every volume with its snapshots.
 * Immutable; a change makes a new instance that replaces the old one only once it is on disk.
 *
 * @param nextId  the id the next volume gets; ids are never reused
 * @param volumes by id
 */
record Registry(int nextId, List<Entry> volumes) {

    static final Registry EMPTY = new Registry(1, List.of());

    Registry {
        volumes = List.copyOf(volumes);
    }

    /**
     * A volume and its snapshots.
     *
     * @param nextSnapshotOrder the order the next snapshot gets; it also names the snapshot's files,
     *                          so files left behind by a crash are never mistaken for a new snapshot's
     * @param snapshots         oldest first
     */
    record Entry(VolumeInfo info, long nextSnapshotOrder, List<Snapshot> snapshots) {
        Entry {
            Objects.requireNonNull(info, "info");
            snapshots = List.copyOf(snapshots);
        }

        Entry withInfo(VolumeInfo newInfo) {
            return new Entry(newInfo, nextSnapshotOrder, snapshots);
        }

        Entry withSnapshot(Snapshot s) {
            List<Snapshot> l = new ArrayList<>(snapshots);
            l.add(s);
            return new Entry(info, Math.max(nextSnapshotOrder, s.order() + 1), l);
        }

        Entry withoutSnapshot(String name) {
            List<Snapshot> l = new ArrayList<>(snapshots);
            l.removeIf(s -> s.name().equals(name));
            return new Entry(info, nextSnapshotOrder, l);
        }

        Optional<Snapshot> snapshot(String name) {
            return snapshots.stream().filter(s -> s.name().equals(name)).findFirst();
        }
    }

    /**
     * A snapshot as the registry knows it.
     *
     * @param order increasing with age within the volume; names the files {@code snap-<order>.data|.log}
     */
    record Snapshot(String name, long size, Instant created, long order) {
        Snapshot {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(created, "created");
        }
    }

    Optional<Entry> find(String name) {
        return volumes.stream().filter(e -> e.info().name().equals(name)).findFirst();
    }

    Registry with(Entry added) {
        List<Entry> l = new ArrayList<>(volumes);
        l.add(added);
        return new Registry(Math.max(nextId, added.info().id() + 1), l);
    }

    Registry replace(Entry changed) {
        List<Entry> l = new ArrayList<>(volumes);
        boolean found = false;
        for (int i = 0; i < l.size(); i++) {
            if (l.get(i).info().id() == changed.info().id()) {
                l.set(i, changed);
                found = true;
            }
        }
        if (!found) {
            throw new IllegalArgumentException("no volume named " + Names.quote(changed.info().name()));
        }
        return new Registry(nextId, l);
    }

    Registry without(String name) {
        List<Entry> l = new ArrayList<>(volumes);
        l.removeIf(e -> e.info().name().equals(name));
        return new Registry(nextId, l);
    }
}
