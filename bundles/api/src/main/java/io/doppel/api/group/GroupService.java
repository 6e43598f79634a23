package io.doppel.api.group;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

import io.doppel.api.journal.Position;
import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.VolumeInfo;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Groups and the operations that must be ordered with the write path (the engine provides
 * it). User mistakes raise {@link IllegalArgumentException}, refusals in the current state
 * {@link IllegalStateException}, with a message for the operator.
 */
@ProviderType
public interface GroupService {

    /** @param journalCapacity bytes, or 0 for the journal service's default */
    GroupInfo createGroup(String name, long journalCapacity) throws IOException;

    /**
     * Creates a group; a {@code journalOnly} group keeps a journal but no volume data. It can
     * only be the target of a pair and the source of async pairs from it (the middle site of a
     * cascade): it journals its source's records, serves them to its own peers, relays its
     * source's resync passes to them, and never folds (a full journal holds its source back).
     *
     * @param journalCapacity bytes, or 0 for the journal service's default
     */
    GroupInfo createGroup(String name, long journalCapacity, boolean journalOnly) throws IOException;

    List<GroupInfo> groups();

    Optional<GroupInfo> group(String name);

    /** Deletes an empty group and its journal. */
    void deleteGroup(String name) throws IOException;

    /** Creates a volume in a group and opens it in the write path. */
    VolumeInfo createVolume(String name, long size, String group) throws IOException;

    /**
     * Deletes a volume once no write is in flight to it.
     *
     * @throws IllegalStateException when it is exported or paired (the reason is named)
     */
    void deleteVolume(String name) throws IOException;

    /** Grows a volume; journaled as a RESIZE record. */
    VolumeInfo growVolume(String name, long newSize) throws IOException;

    /** Snapshot of one volume at a point where no write to it is in flight. */
    SnapshotInfo snapshot(String volume, String snapshot) throws IOException;

    /** Snapshots of every volume of a group at one journal position (writes held meanwhile). */
    List<SnapshotInfo> snapshotGroup(String group, String snapshot) throws IOException;

    /**
     * Rolls a volume back to a snapshot.
     *
     * @throws IllegalStateException while the volume is exported read-write or paired
     */
    void rollback(String volume, String snapshot) throws IOException;

    /** Forces the group's volumes and records a checkpoint now; returns its position. */
    Position checkpoint(String group) throws IOException;
}
