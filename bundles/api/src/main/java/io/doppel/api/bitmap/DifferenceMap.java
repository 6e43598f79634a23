package io.doppel.api.bitmap;

import java.io.IOException;
import java.util.Set;

import io.doppel.api.journal.Position;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The blocks (4 KiB, numbered from 0) of each volume that a peer may lack, with the journal
 * position the map covers: every record up to {@link #coveredThrough()} that the peer lacks is
 * represented here, later ones are still in the journal. Thread-safe. Changes live in memory
 * until {@link #persist}.
 */
@ProviderType
public interface DifferenceMap {

    String pairId();

    /** Marks the blocks touched by [offset, offset+length) of a volume. */
    void add(int volumeId, long offset, long length);

    /** Marks {@code count} blocks from {@code firstBlock}. */
    void addBlocks(int volumeId, long firstBlock, long count);

    /** Clears one block (it reached the peer). */
    void remove(int volumeId, long block);

    boolean contains(int volumeId, long block);

    /** Dirty blocks over all volumes. */
    long blocks();

    long blocks(int volumeId);

    /** Volumes with at least one dirty block. */
    Set<Integer> volumes();

    /** Calls {@code runs} with each run of dirty blocks of a volume, ascending. */
    void forEachRun(int volumeId, RunConsumer runs);

    /** Empties the map (in memory). */
    void clear();

    Position coveredThrough();

    /**
     * Writes the current content durably (temp file, fsync, rename), recording that it covers
     * the records through {@code through}.
     */
    void persist(Position through) throws IOException;

    /** A run of blocks. */
    @FunctionalInterface
    interface RunConsumer {
        void run(long firstBlock, long count);
    }
}
