package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.ActivityLog;
import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The activity log: the extents in which a volume may hold data newer than the durable
 * journal. {@code activity.log} has two slots (each half of the file); every change writes the
 * whole set to the slot not used last, with a higher generation, and forces the file. On
 * open the valid slot with the highest generation wins.
 *
 * <pre>
 * slot: int magic "DJAL", short version, short 0, long generation, long extent bytes,
 *       int capacity, int count, count x (int volume id, long extent index), int CRC32C
 * </pre>
 */
final class ActivityLogImpl implements ActivityLog {

    private static final Logger LOG = LoggerFactory.getLogger(ActivityLogImpl.class);
    static final String FILE = "activity.log";
    static final int MAGIC = 0x444A414C;
    static final int VERSION = 1;
    private static final int SLOT_HEADER = 32;
    private static final int ENTRY = 12;

    /** How the log reaches the journal it protects. */
    interface JournalSync {
        long durableSeq();

        void forceThrough(long seq) throws IOException;
    }

    private static final class Hot {
        final ActivityExtent extent;
        final AtomicLong lastSeq;
        volatile boolean evicted;

        Hot(ActivityExtent extent, long seq) {
            this.extent = extent;
            this.lastSeq = new AtomicLong(seq);
        }
    }

    private final StorageFile file;
    private final long extentBytes;
    private final int capacity;
    private final int slotBytes;
    private final JournalSync journal;
    private final ConcurrentHashMap<ActivityExtent, Hot> hot = new ConcurrentHashMap<>();
    private final List<ActivityExtent> recovered;
    private final CRC32C crc = new CRC32C();
    // guarded by this
    private long generation;
    private int nextSlot;
    private long writes;

    private ActivityLogImpl(StorageFile file, long extentBytes, int capacity, JournalSync journal, List<ActivityExtent> recovered,
                            long generation, int nextSlot) {
        this.file = file;
        this.extentBytes = extentBytes;
        this.capacity = capacity;
        this.slotBytes = slotBytes(capacity);
        this.journal = journal;
        this.recovered = List.copyOf(recovered);
        this.generation = generation;
        this.nextSlot = nextSlot;
    }

    static int slotBytes(int capacity) {
        int raw = SLOT_HEADER + capacity * ENTRY + 4;
        return (raw + 4095) & -4096;
    }

    /**
     * Opens (creating) the log. The extents it held are reported by {@link #recovered()} and
     * stay hot, the least recently used, until evicted.
     */
    static ActivityLogImpl open(Storage storage, Path dir, long extentBytes, int capacity, JournalSync journal) throws IOException {
        Path path = dir.resolve(FILE);
        StorageFile f = storage.open(path, true);
        try {
            long size = f.size();
            Slot best = null;
            int bestIndex = -1;
            if (size >= 2L * (SLOT_HEADER + 4)) {
                long half = size / 2;
                for (int i = 0; i < 2; i++) {
                    Slot s = readSlot(f, i * half, (int) Math.min(half, Integer.MAX_VALUE), path);
                    if (s != null && (best == null || s.generation > best.generation)) {
                        best = s;
                        bestIndex = i;
                    }
                }
            }
            List<ActivityExtent> found = new ArrayList<>();
            long gen = 0;
            if (best != null) {
                gen = best.generation;
                for (ActivityExtent e : best.extents) {
                    found.addAll(rescale(e, best.extentBytes, extentBytes));
                }
            }
            List<ActivityExtent> keep = found.size() > capacity ? found.subList(found.size() - capacity, found.size()) : found;
            if (found.size() > capacity) {
                LOG.warn("Activity log {} held {} extents, more than its capacity {}; the oldest are dropped from the live set",
                        path, found.size(), capacity);
            }
            int slotBytes = slotBytes(capacity);
            int nextSlot = 1 - Math.max(bestIndex, 0);
            if (size != 2L * slotBytes || best != null && best.extentBytes != extentBytes) {
                // New file, or other settings: lay it out anew in one atomic replacement (zeros past the
                // set, so later forces need no metadata update), never losing the extents it holds.
                f.close();
                ByteBuffer image = ByteBuffer.allocate(2 * slotBytes);
                image.put(encodeSlot(new CRC32C(), ++gen, extentBytes, capacity, keep));
                storage.writeAtomically(path, image.clear());
                f = storage.open(path, false);
                nextSlot = 1;
            }
            ActivityLogImpl log = new ActivityLogImpl(f, extentBytes, capacity, journal, found, gen, nextSlot);
            for (ActivityExtent e : keep) {
                log.hot.put(e, new Hot(e, 0));
            }
            return log;
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private record Slot(long generation, long extentBytes, List<ActivityExtent> extents) {
    }

    private static Slot readSlot(StorageFile f, long at, int max, Path path) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(SLOT_HEADER);
        if (f.read(head, at) < SLOT_HEADER || head.getInt(0) != MAGIC) {
            return null;
        }
        int count = head.getInt(28);
        if (count < 0 || SLOT_HEADER + (long) count * ENTRY + 4 > max) {
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate(SLOT_HEADER + count * ENTRY + 4);
        if (f.read(b, at) < b.capacity()) {
            return null;
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.capacity() - 4);
        if ((int) crc.getValue() != b.getInt(b.capacity() - 4)) {
            return null;
        }
        int version = b.getShort(4) & 0xFFFF;
        if (version != VERSION) {
            throw new UnsupportedVersionException("activity log " + path + " has format version " + version
                    + "; this journal bundle reads version " + VERSION);
        }
        List<ActivityExtent> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int p = SLOT_HEADER + i * ENTRY;
            out.add(new ActivityExtent(b.getInt(p), b.getLong(p + 4)));
        }
        return new Slot(b.getLong(8), b.getLong(16), out);
    }

    /** The same bytes in extents of another size. */
    private static List<ActivityExtent> rescale(ActivityExtent e, long from, long to) {
        if (from == to || from <= 0) {
            return List.of(e);
        }
        long start = e.index() * from;
        long end = start + from - 1;
        List<ActivityExtent> out = new ArrayList<>();
        for (long i = start / to; i <= end / to; i++) {
            out.add(new ActivityExtent(e.volumeId(), i));
        }
        return out;
    }

    /** Extents hot when the journal was opened (what was hot at a crash). */
    List<ActivityExtent> recovered() {
        return recovered;
    }

    @Override
    public long extentBytes() {
        return extentBytes;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public void touch(int volumeId, long offset, long length, long seq) throws IOException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("activity log touch of volume " + volumeId + " needs offset and length >= 0, got "
                    + offset + "+" + length);
        }
        if (length == 0) {
            return;
        }
        long first = offset / extentBytes;
        long last = (offset + length - 1) / extentBytes;
        for (long i = first; i <= last; i++) {
            Hot h = hot.get(new ActivityExtent(volumeId, i));
            if (h == null) {
                slowTouch(volumeId, first, last, seq);
                return;
            }
            raise(h.lastSeq, seq);
            // An evictor marks first, then reads lastSeq: either it saw our seq or we see its mark.
            if (h.evicted) {
                slowTouch(volumeId, first, last, seq);
                return;
            }
        }
    }

    private static void raise(AtomicLong a, long v) {
        long cur;
        while ((cur = a.get()) < v) {
            if (a.compareAndSet(cur, v)) {
                return;
            }
        }
    }

    private synchronized void slowTouch(int volumeId, long first, long last, long seq) throws IOException {
        List<ActivityExtent> missing = new ArrayList<>();
        Set<ActivityExtent> range = new HashSet<>();
        for (long i = first; i <= last; i++) {
            ActivityExtent e = new ActivityExtent(volumeId, i);
            range.add(e);
            Hot h = hot.get(e);
            if (h == null || h.evicted) {
                missing.add(e);
            } else {
                raise(h.lastSeq, seq);
            }
        }
        if (missing.isEmpty()) {
            return;
        }
        if (missing.size() > capacity) {
            // The range is wider than the log: make the record durable instead, so no block can be ahead of it.
            journal.forceThrough(seq);
            return;
        }
        int over = hot.size() + missing.size() - capacity;
        List<Hot> victims = new ArrayList<>();
        if (over > 0) {
            List<Hot> candidates = new ArrayList<>();
            for (Hot h : hot.values()) {
                if (!range.contains(h.extent)) {
                    candidates.add(h);
                }
            }
            candidates.sort(Comparator.comparingLong(h -> h.lastSeq.get()));
            victims.addAll(candidates.subList(0, Math.min(over, candidates.size())));
            long through = 0;
            for (Hot v : victims) {
                v.evicted = true;
            }
            for (Hot v : victims) {
                through = Math.max(through, v.lastSeq.get());
            }
            if (through > journal.durableSeq()) {
                journal.forceThrough(through);
            }
        }
        List<ActivityExtent> next = new ArrayList<>(hot.size() + missing.size());
        Set<ActivityExtent> gone = new HashSet<>();
        for (Hot v : victims) {
            gone.add(v.extent);
        }
        for (ActivityExtent e : hot.keySet()) {
            if (!gone.contains(e)) {
                next.add(e);
            }
        }
        for (ActivityExtent e : missing) {
            if (!hot.containsKey(e) || gone.contains(e)) {
                next.add(e);
            }
        }
        writeSet(next);
        for (Hot v : victims) {
            hot.remove(v.extent, v);
        }
        for (ActivityExtent e : missing) {
            Hot h = hot.get(e);
            if (h == null || h.evicted) {
                hot.put(e, new Hot(e, seq));
            }
        }
    }

    /** Writes and forces the set in the next slot. Caller holds the monitor. */
    private void writeSet(List<ActivityExtent> extents) throws IOException {
        file.write(encodeSlot(crc, generation + 1, extentBytes, capacity, extents), (long) nextSlot * slotBytes);
        file.force();
        generation++;
        nextSlot = 1 - nextSlot;
        writes++;
    }

    private static ByteBuffer encodeSlot(CRC32C crc, long generation, long extentBytes, int capacity, List<ActivityExtent> extents) {
        int count = extents.size();
        ByteBuffer b = ByteBuffer.allocate(SLOT_HEADER + count * ENTRY + 4);
        b.putInt(MAGIC).putShort((short) VERSION).putShort((short) 0).putLong(generation).putLong(extentBytes)
                .putInt(capacity).putInt(count);
        for (ActivityExtent e : extents) {
            b.putInt(e.volumeId()).putLong(e.index());
        }
        crc.reset();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.flip();
    }

    @Override
    public Set<ActivityExtent> extents() {
        Set<ActivityExtent> out = new HashSet<>();
        for (Hot h : hot.values()) {
            if (!h.evicted) {
                out.add(h.extent);
            }
        }
        return out;
    }

    int size() {
        return hot.size();
    }

    synchronized long writes() {
        return writes;
    }

    /** Empties the log durably (after a clean close every volume is durable). */
    synchronized void clear() throws IOException {
        for (Hot h : hot.values()) {
            h.evicted = true;
        }
        hot.clear();
        writeSet(List.of());
    }

    /**
     * After a rebase: every record is checkpointed and the old seqs are gone, so no hot extent
     * waits for a record to become durable. The extents stay hot (in memory and on disk).
     */
    void forgetSeqs() {
        for (Hot h : hot.values()) {
            h.lastSeq.set(0);
        }
    }

    void close() throws IOException {
        file.close();
    }
}
