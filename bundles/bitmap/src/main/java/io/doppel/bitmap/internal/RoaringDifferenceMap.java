package io.doppel.bitmap.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.api.storage.Storage;

import org.roaringbitmap.RoaringBitmap;

/**
 * A pair's difference map: one RoaringBitmap of block numbers per volume. Block numbers are
 * unsigned 32-bit ints in the bitmaps (a volume has at most 2^32 blocks of 4 KiB).
 *
 * <p>One lock guards the bitmaps and is held only for the bitmap operation itself; a persist
 * copies the bitmaps under it and encodes and writes outside it, so writers are held up for a
 * copy, never for I/O. Persists are serialised among themselves so that an older snapshot never
 * replaces a newer one.
 */
final class RoaringDifferenceMap implements DifferenceMap {

    static final int BLOCK_SHIFT = 12;
    static final long BLOCK_SIZE = 1L << BLOCK_SHIFT;
    /** 2^32 blocks: 16 TiB, the largest volume. */
    static final long MAX_BLOCKS = 1L << 32;
    static final long MAX_BYTES = MAX_BLOCKS << BLOCK_SHIFT;

    private final String pairId;
    private final Path file;
    private final Storage storage;

    private final Object lock = new Object();
    /** Guarded by {@link #lock}; holds no empty bitmap. */
    private final Map<Integer, RoaringBitmap> volumes;

    private final Object persistLock = new Object();
    /** Guarded by {@link #persistLock}: why this instance may no longer write its file, or null. */
    private String retired;
    private volatile Position covered;

    RoaringDifferenceMap(String pairId, Path file, Storage storage, Position covered, Map<Integer, RoaringBitmap> volumes) {
        this.pairId = pairId;
        this.file = file;
        this.storage = storage;
        this.covered = covered;
        this.volumes = new HashMap<>();
        volumes.forEach((id, b) -> {
            if (!b.isEmpty()) {
                this.volumes.put(id, b);
            }
        });
    }

    Path file() {
        return file;
    }

    @Override
    public String pairId() {
        return pairId;
    }

    @Override
    public void add(int volumeId, long offset, long length) {
        if (offset < 0 || length < 0 || offset > MAX_BYTES || length > MAX_BYTES - offset) {
            throw new IllegalArgumentException("pair " + pairId + ", volume " + volumeId + ": byte range offset " + offset
                    + ", length " + length + " is not within a volume's 16 TiB (0 to " + MAX_BYTES + " bytes)");
        }
        if (length == 0) {
            return;
        }
        mark(volumeId, offset >>> BLOCK_SHIFT, (offset + length + BLOCK_SIZE - 1) >>> BLOCK_SHIFT);
    }

    @Override
    public void addBlocks(int volumeId, long firstBlock, long count) {
        if (firstBlock < 0 || count < 0 || firstBlock > MAX_BLOCKS || count > MAX_BLOCKS - firstBlock) {
            throw new IllegalArgumentException("pair " + pairId + ", volume " + volumeId + ": " + count + " blocks from block "
                    + firstBlock + " are not within a volume's 2^32 blocks");
        }
        if (count == 0) {
            return;
        }
        mark(volumeId, firstBlock, firstBlock + count);
    }

    /** Marks the blocks [first, end). */
    private void mark(int volumeId, long first, long end) {
        synchronized (lock) {
            RoaringBitmap b = volumes.get(volumeId);
            if (b == null) {
                b = new RoaringBitmap();
                volumes.put(volumeId, b);
            }
            if (end - first == 1) {
                b.add((int) first);
            } else {
                b.add(first, end);
            }
        }
    }

    @Override
    public void remove(int volumeId, long block) {
        checkBlock(volumeId, block);
        synchronized (lock) {
            RoaringBitmap b = volumes.get(volumeId);
            if (b != null) {
                b.remove((int) block);
                if (b.isEmpty()) {
                    volumes.remove(volumeId);
                }
            }
        }
    }

    @Override
    public boolean contains(int volumeId, long block) {
        checkBlock(volumeId, block);
        synchronized (lock) {
            RoaringBitmap b = volumes.get(volumeId);
            return b != null && b.contains((int) block);
        }
    }

    private void checkBlock(int volumeId, long block) {
        if (block < 0 || block >= MAX_BLOCKS) {
            throw new IllegalArgumentException("pair " + pairId + ", volume " + volumeId + ": block " + block
                    + " is not within a volume's 2^32 blocks (0 to " + (MAX_BLOCKS - 1) + ")");
        }
    }

    @Override
    public long blocks() {
        synchronized (lock) {
            long n = 0;
            for (RoaringBitmap b : volumes.values()) {
                n += b.getLongCardinality();
            }
            return n;
        }
    }

    @Override
    public long blocks(int volumeId) {
        synchronized (lock) {
            RoaringBitmap b = volumes.get(volumeId);
            return b == null ? 0 : b.getLongCardinality();
        }
    }

    @Override
    public Set<Integer> volumes() {
        synchronized (lock) {
            return Collections.unmodifiableSet(new TreeSet<>(volumes.keySet()));
        }
    }

    /** Runs of a copy taken under the lock: the consumer may be slow (it copies blocks) or change this map. */
    @Override
    public void forEachRun(int volumeId, RunConsumer runs) {
        Objects.requireNonNull(runs, "runs");
        RoaringBitmap b;
        synchronized (lock) {
            RoaringBitmap live = volumes.get(volumeId);
            if (live == null) {
                return;
            }
            b = live.clone();
        }
        long next = b.nextValue(0);
        while (next >= 0) {
            long absent = b.nextAbsentValue((int) next);
            long end = absent < 0 ? MAX_BLOCKS : absent; // -1: the run reaches the last block
            runs.run(next, end - next);
            if (end >= MAX_BLOCKS) {
                break;
            }
            next = b.nextValue((int) end);
        }
    }

    @Override
    public void clear() {
        synchronized (lock) {
            volumes.clear();
        }
    }

    @Override
    public Position coveredThrough() {
        return covered;
    }

    @Override
    public void persist(Position through) throws IOException {
        Objects.requireNonNull(through, "through");
        synchronized (persistLock) {
            if (retired != null) {
                throw new IOException("difference map of pair " + pairId + " (" + file + ") " + retired + ": not persisted");
            }
            SortedMap<Integer, RoaringBitmap> snapshot = snapshot();
            storage.createDirectories(file.getParent());
            storage.writeAtomically(file, MapFile.encode(through, snapshot));
            covered = through;
        }
    }

    /** A consistent copy of every bitmap, taken under the lock. */
    SortedMap<Integer, RoaringBitmap> snapshot() {
        SortedMap<Integer, RoaringBitmap> copy = new TreeMap<>();
        synchronized (lock) {
            for (Map.Entry<Integer, RoaringBitmap> e : volumes.entrySet()) {
                copy.put(e.getKey(), e.getValue().clone());
            }
        }
        return copy;
    }

    /** Stops further persists (waits for one in progress): the map was deleted or its service stopped. */
    void retire(String why) {
        synchronized (persistLock) {
            if (retired == null) {
                retired = why;
            }
        }
    }

    @Override
    public String toString() {
        return "DifferenceMap[pair " + pairId + ", " + blocks() + " blocks, covers through " + covered + "]";
    }
}
