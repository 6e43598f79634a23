package io.doppel.api.journal;

import java.io.IOException;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The small durable set of hot volume extents, inside which a volume block may be written
 * before its journal record is durable. The engine calls {@link #touch} after appending a
 * record and before writing the volume.
 */
@ProviderType
public interface ActivityLog {

    /** Bytes per extent. */
    long extentBytes();

    /** Most extents held at once. */
    int capacity();

    /**
     * Ensures the extents covering [offset, offset+length) of the volume are in the durable
     * log before returning. Cheap when they already are; otherwise writes and forces the log,
     * first evicting the least recently used extent (forcing the journal through the last
     * record that touched it, if that is not yet durable).
     *
     * @param seq the seq of the record about to be applied there
     */
    void touch(int volumeId, long offset, long length, long seq) throws IOException;

    /** The extents currently hot. */
    Set<ActivityExtent> extents();
}
