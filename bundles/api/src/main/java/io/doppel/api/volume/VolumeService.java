package io.doppel.api.volume;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The volume registry: named, fixed-size, sparse file-backed volumes allocated from a pool
 * of data directories. The registry is persisted atomically.
 *
 * <p>User mistakes (a bad name or size, an unknown volume) raise
 * {@link IllegalArgumentException}; an operation refused in the current state (a volume
 * still exported or paired) raises {@link IllegalStateException}; both carry a message
 * for the operator.
 *
 * <p>Writes to volumes must go through the engine's write path so that they are
 * journaled; this service only manages volumes and hands out {@link Volume} handles.
 */
@ProviderType
public interface VolumeService {

    /** Volumes are addressed in blocks of this many bytes (locks, snapshots, difference maps). */
    int BLOCK_SIZE = 4096;

    /**
     * Creates a sparse volume in the pool directory with the most usable space.
     *
     * @param size  bytes, a positive multiple of {@link #BLOCK_SIZE}
     * @param group consistency group name
     */
    VolumeInfo create(String name, long size, String group) throws IOException;

    List<VolumeInfo> list();

    Optional<VolumeInfo> find(String name);

    /**
     * Deletes a volume, its snapshots and its files.
     *
     * @throws IllegalStateException when a {@link VolumeGuard} vetoes it or it is open
     */
    void delete(String name) throws IOException;

    /**
     * Opens the volume for I/O. Handles are reference counted: every {@code open} needs its
     * {@link Volume#close()}. Handles become unusable when this service goes away.
     */
    Volume open(String name) throws IOException;

    /** The data directories volumes are allocated from. */
    List<PoolDirectory> pool() throws IOException;
}
