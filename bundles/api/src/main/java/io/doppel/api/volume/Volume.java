package io.doppel.api.volume;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * An open volume. Thread-safe for concurrent operations on disjoint block ranges; the
 * caller (the engine) orders overlapping writes with per-block locks and quiesces writes
 * around {@link #createSnapshot}, {@link #rollback} and {@link #resize}.
 */
@ProviderType
public interface Volume extends Closeable {

    VolumeInfo info();

    long size();

    /** Fills {@code dst} with the bytes at {@code offset}; the range must lie within the volume. */
    void read(ByteBuffer dst, long offset) throws IOException;

    /**
     * Writes {@code src} at {@code offset}. Blocks that a snapshot still shares with the
     * volume are preserved into the newest snapshot first (durably, before the new data can
     * reach the disk).
     */
    void write(ByteBuffer src, long offset) throws IOException;

    /** Makes the range read as zeros (TRIM and WRITE_ZEROES), preserving snapshot blocks first. */
    void writeZeroes(long offset, long length) throws IOException;

    /** Grows the volume; shrinking is refused. Persisted in the registry before returning. */
    void resize(long newSize) throws IOException;

    /** Makes every completed write durable (data files and snapshot stores). */
    void force() throws IOException;

    /** Takes a copy-on-write snapshot of the current contents. */
    SnapshotInfo createSnapshot(String name) throws IOException;

    /** Snapshots, oldest first. */
    List<SnapshotInfo> snapshots();

    /** Deletes a snapshot; its preserved blocks are handed to the next older one where it needs them. */
    void deleteSnapshot(String name) throws IOException;

    /**
     * Reads the snapshot's image. Blocks the snapshot shares with the live volume are read
     * from the volume, so the caller holds the block locks of the range.
     */
    void readSnapshot(String name, ByteBuffer dst, long offset) throws IOException;

    /**
     * Makes the live volume equal to the snapshot's image (and size), durably. Snapshots newer
     * than it are kept. The caller quiesces writes and checkpoints the journal first.
     */
    void rollback(String name) throws IOException;

    /** Releases this handle. */
    @Override
    void close() throws IOException;
}
