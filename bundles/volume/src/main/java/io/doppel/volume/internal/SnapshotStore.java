package io.doppel.volume.internal;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32C;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.api.volume.VolumeService;

import org.roaringbitmap.RoaringBitmap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store of one snapshot: a sparse file as long as the snapshot holding preserved blocks
 * at their own offsets ({@code snap-<order>.data}), and an append-only log of the preserved
 * block runs ({@code snap-<order>.log}) from which the bitmap of preserved blocks is rebuilt.
 *
 * <p>Log format (big-endian): a 32-byte header {@code int magic 0x4450534C ("DPSL"), int version (1),
 * int block size, int volume id, long order, int reserved, int CRC32C of the first 28 bytes},
 * then 16-byte entries {@code long first block, int block count, int CRC32C of the first 12 bytes}.
 * A block is listed only after its data is durable in the store, so the log never claims what
 * the store lacks; a torn tail (entries not yet forced when power went) is cut off on open.
 */
final class SnapshotStore implements Closeable {

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotStore.class);

    static final int LOG_MAGIC = 0x4450534C;
    static final int LOG_VERSION = 1;
    static final int HEADER = 32;
    static final int ENTRY = 16;
    /** Longest run one entry describes. */
    private static final long MAX_ENTRY_BLOCKS = 1 << 30;

    private final Registry.Snapshot record;
    private final StorageFile data;
    private final StorageFile log;
    private final long blocks;

    // Guarded by this. Writers on disjoint blocks append and test concurrently.
    private final RoaringBitmap preserved;
    private long logEnd;

    private SnapshotStore(Registry.Snapshot record, StorageFile data, StorageFile log, RoaringBitmap preserved,
            long logEnd) {
        this.record = record;
        this.data = data;
        this.log = log;
        this.blocks = record.size() / VolumeService.BLOCK_SIZE;
        this.preserved = preserved;
        this.logEnd = logEnd;
    }

    static Path dataPath(Path volumeDir, long order) {
        return volumeDir.resolve("snap-" + order + ".data");
    }

    static Path logPath(Path volumeDir, long order) {
        return volumeDir.resolve("snap-" + order + ".log");
    }

    /** Creates the (durable, empty) files of a new snapshot, replacing any a crash left behind. */
    static SnapshotStore create(Storage storage, Path volumeDir, int volumeId, Registry.Snapshot s)
            throws IOException {
        Path dataPath = dataPath(volumeDir, s.order());
        Path logPath = logPath(volumeDir, s.order());
        storage.deleteIfExists(dataPath);
        storage.deleteIfExists(logPath);
        StorageFile data = storage.open(dataPath, true);
        StorageFile log = null;
        try {
            data.setLength(s.size());
            data.force();
            log = storage.open(logPath, true);
            log.write(header(volumeId, s.order()), 0);
            log.force();
            return new SnapshotStore(s, data, log, new RoaringBitmap(), HEADER);
        } catch (IOException | RuntimeException e) {
            closeQuietly(data);
            closeQuietly(log);
            throw e;
        }
    }

    /** Opens a registered snapshot's files and rebuilds its bitmap from the log. */
    static SnapshotStore open(Storage storage, Path volumeDir, int volumeId, String volume, Registry.Snapshot s)
            throws IOException {
        Path dataPath = dataPath(volumeDir, s.order());
        Path logPath = logPath(volumeDir, s.order());
        StorageFile data = null;
        StorageFile log = null;
        try {
            data = storage.open(dataPath, false);
            log = storage.open(logPath, false);
            if (data.size() < s.size()) {
                // Only a hole can be missing at the end; preserved blocks were forced before they were logged.
                data.setLength(s.size());
                data.force();
            }
            RoaringBitmap bitmap = new RoaringBitmap();
            long end = readLog(log, volumeId, s, bitmap, volume);
            return new SnapshotStore(s, data, log, bitmap, end);
        } catch (NoSuchFileException e) {
            closeQuietly(data);
            closeQuietly(log);
            throw new IOException("snapshot " + s.name() + " of volume " + volume + " cannot be opened: "
                    + e.getFile() + " is missing", e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(data);
            closeQuietly(log);
            throw e;
        }
    }

    private static ByteBuffer header(int volumeId, long order) {
        ByteBuffer h = ByteBuffer.allocate(HEADER);
        h.putInt(LOG_MAGIC).putInt(LOG_VERSION).putInt(VolumeService.BLOCK_SIZE).putInt(volumeId).putLong(order)
                .putInt(0);
        h.putInt(crc(h.array(), 0, HEADER - 4));
        return h.flip();
    }

    private static long readLog(StorageFile log, int volumeId, Registry.Snapshot s, RoaringBitmap into,
            String volume) throws IOException {
        Path path = log.path();
        long size = log.size();
        ByteBuffer h = ByteBuffer.allocate(HEADER);
        BlockIo.readFully(log, h, 0);
        h.flip();
        int magic = h.getInt(0);
        if (size < HEADER || magic != LOG_MAGIC) {
            throw new IOException("snapshot log " + path + " of " + volume + "@" + s.name()
                    + " is damaged: " + (size < HEADER ? "it is shorter than its header (" + size + " bytes)"
                            : String.format("bad magic 0x%08x", magic)));
        }
        int version = h.getInt(4);
        if (version != LOG_VERSION) {
            throw new IOException("snapshot log " + path + " has format version " + version
                    + ", but this build reads only version " + LOG_VERSION);
        }
        if (h.getInt(HEADER - 4) != crc(h.array(), 0, HEADER - 4)) {
            throw new IOException("snapshot log " + path + " is damaged: header CRC32C mismatch");
        }
        if (h.getInt(8) != VolumeService.BLOCK_SIZE || h.getInt(12) != volumeId || h.getLong(16) != s.order()) {
            throw new IOException("snapshot log " + path + " belongs elsewhere: block size " + h.getInt(8)
                    + ", volume id " + h.getInt(12) + ", order " + h.getLong(16) + " (expected "
                    + VolumeService.BLOCK_SIZE + ", " + volumeId + ", " + s.order() + ")");
        }
        long blocks = s.size() / VolumeService.BLOCK_SIZE;
        long pos = HEADER;
        ByteBuffer chunk = ByteBuffer.allocate(ENTRY * 4096);
        scan:
        while (pos + ENTRY <= size) {
            chunk.clear();
            chunk.limit((int) Math.min(chunk.capacity(), (size - pos) / ENTRY * ENTRY));
            BlockIo.readFully(log, chunk, pos);
            byte[] a = chunk.array();
            for (int i = 0; i < chunk.limit(); i += ENTRY) {
                long start = chunk.getLong(i);
                int count = chunk.getInt(i + 8);
                if (chunk.getInt(i + 12) != crc(a, i, 12) || count <= 0 || start < 0 || start + count > blocks) {
                    break scan;
                }
                into.add(start, start + count);
                pos += ENTRY;
            }
        }
        if (size > pos) {
            // Entries that were never forced: their volume writes never happened, so dropping them is safe.
            LOG.warn("Snapshot log {} ends in {} bytes that are not whole valid entries (a write interrupted by a"
                    + " crash); cutting them off", path, size - pos);
            log.setLength(pos);
            log.force();
        }
        return pos;
    }

    private static int crc(byte[] a, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(a, off, len);
        return (int) c.getValue();
    }

    Registry.Snapshot record() {
        return record;
    }

    String name() {
        return record.name();
    }

    long size() {
        return record.size();
    }

    long blocks() {
        return blocks;
    }

    StorageFile data() {
        return data;
    }

    synchronized boolean isPreserved(long block) {
        return block < blocks && preserved.contains((int) block);
    }

    synchronized long preservedBlocks() {
        return preserved.getLongCardinality();
    }

    synchronized RoaringBitmap copyOfPreserved() {
        return preserved.clone();
    }

    /**
     * Records runs whose data is already durable in the store: appends them to the log, forces
     * the log, then marks them preserved. Entries are written under the lock so that the log
     * has no gap before any entry a concurrent writer has forced.
     */
    void appendPreserved(List<Run> runs) throws IOException {
        int entries = 0;
        for (Run r : runs) {
            entries += (int) ((r.count() + MAX_ENTRY_BLOCKS - 1) / MAX_ENTRY_BLOCKS);
        }
        ByteBuffer b = ByteBuffer.allocate(entries * ENTRY);
        for (Run r : runs) {
            for (long s = r.start(); s < r.end(); s += MAX_ENTRY_BLOCKS) {
                int count = (int) Math.min(MAX_ENTRY_BLOCKS, r.end() - s);
                int at = b.position();
                b.putLong(s).putInt(count);
                b.putInt(crc(b.array(), at, 12));
            }
        }
        b.flip();
        synchronized (this) {
            log.write(b, logEnd);
            logEnd += entries * (long) ENTRY;
        }
        log.force();
        synchronized (this) {
            for (Run r : runs) {
                preserved.add(r.start(), r.end());
            }
        }
    }

    void force() throws IOException {
        data.force();
        log.force();
    }

    @Override
    public void close() throws IOException {
        try {
            data.close();
        } finally {
            log.close();
        }
    }

    private static void closeQuietly(StorageFile f) {
        if (f != null) {
            try {
                f.close();
            } catch (IOException e) {
                LOG.debug("Closing {} after a failure failed too", f.path(), e);
            }
        }
    }
}
