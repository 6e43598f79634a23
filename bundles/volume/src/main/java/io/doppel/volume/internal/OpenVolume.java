package io.doppel.volume.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.roaringbitmap.RoaringBitmap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The state of an open volume that all its handles share: the data file and the snapshot stores.
 *
 * <p>Copy-on-write: a snapshot reads a block from its own store if it preserved it, else from
 * the store of the next newer snapshot that preserved it, else from the live volume. Before a
 * block changes, its old content is copied into the newest snapshot covering it that has not
 * preserved it (normally the newest snapshot), and made durable there (store, then log) before
 * the new data is written, so a crash never leaves the volume ahead of its snapshots.
 *
 * <p>Locking: live reads never lock; writes lock nothing while there are no snapshots, and take
 * the shared side of {@link #snapshotLock} otherwise, so that copies never race with a snapshot
 * being deleted. Snapshot operations that change the set of snapshots or the volume's size take
 * the exclusive side. The caller orders writes to the same block (per-block locks).
 */
final class OpenVolume {

    private static final Logger LOG = LoggerFactory.getLogger(OpenVolume.class);

    static final String DATA = "data";
    private static final int BS = VolumeService.BLOCK_SIZE;
    private static final int CHUNK_BLOCKS = BlockIo.CHUNK / BS;
    private static final Pattern SNAPSHOT_FILE = Pattern.compile("snap-(\\d+)\\.(data|log)");

    private final VolumeManager manager;
    private final Storage storage;
    private final Path dir;
    private final StorageFile data;
    private final ReentrantReadWriteLock snapshotLock = new ReentrantReadWriteLock();
    private volatile VolumeInfo info;
    /** Oldest first; replaced whole under the exclusive lock. */
    private volatile List<SnapshotStore> snapshots;

    /** Open handles; guarded by the manager. */
    int refs;

    private OpenVolume(VolumeManager manager, Storage storage, Path dir, StorageFile data, VolumeInfo info,
            List<SnapshotStore> snapshots) {
        this.manager = manager;
        this.storage = storage;
        this.dir = dir;
        this.data = data;
        this.info = info;
        this.snapshots = List.copyOf(snapshots);
    }

    static Path directory(VolumeInfo info) {
        return Path.of(info.directory()).resolve(info.name());
    }

    static OpenVolume open(VolumeManager manager, Storage storage, Registry.Entry entry) throws IOException {
        VolumeInfo info = entry.info();
        Path dir = directory(info);
        StorageFile data;
        try {
            data = storage.open(dir.resolve(DATA), false);
        } catch (NoSuchFileException e) {
            throw new IOException("volume " + info.name() + " cannot be opened: its data file " + e.getFile()
                    + " is missing", e);
        }
        List<SnapshotStore> stores = new ArrayList<>();
        try {
            long length = data.size();
            if (length != info.size()) {
                // A resize or rollback interrupted between the file and the registry: the registry wins.
                LOG.warn("Data file {} of volume {} is {} bytes, the registry says {}; setting it to {}",
                        data.path(), info.name(), length, info.size(), info.size());
                data.setLength(info.size());
                data.force();
            }
            for (Registry.Snapshot s : entry.snapshots()) {
                stores.add(SnapshotStore.open(storage, dir, info.id(), info.name(), s));
            }
            removeOrphans(storage, dir, entry);
        } catch (IOException | RuntimeException e) {
            for (SnapshotStore s : stores) {
                closeQuietly(s);
            }
            data.close();
            throw e;
        }
        return new OpenVolume(manager, storage, dir, data, info, stores);
    }

    /** Snapshot files no registered snapshot owns: left by a crash while creating or deleting one. */
    private static void removeOrphans(Storage storage, Path dir, Registry.Entry entry) throws IOException {
        Set<Long> orders = entry.snapshots().stream().map(Registry.Snapshot::order).collect(Collectors.toSet());
        for (Path p : storage.list(dir)) {
            Matcher m = SNAPSHOT_FILE.matcher(p.getFileName().toString());
            if (m.matches() && !orders.contains(Long.parseLong(m.group(1)))) {
                LOG.info("Removing {}: no snapshot of volume {} owns it (left by an interrupted snapshot operation)",
                        p, entry.info().name());
                storage.deleteIfExists(p);
            }
        }
    }

    VolumeInfo info() {
        return info;
    }

    String name() {
        return info.name();
    }

    long size() {
        return info.size();
    }

    // ---- live data ------------------------------------------------------------------------

    void read(ByteBuffer dst, long offset) throws IOException {
        checkRange(offset, dst.remaining(), size(), "volume " + name());
        BlockIo.readFully(data, dst, offset);
    }

    void write(ByteBuffer src, long offset) throws IOException {
        int length = src.remaining();
        checkRange(offset, length, size(), "volume " + name());
        if (length == 0) {
            return;
        }
        if (snapshots.isEmpty()) {
            data.write(src, offset);
            return;
        }
        Lock lock = snapshotLock.readLock();
        lock.lock();
        try {
            preserveBeforeWrite(snapshots, List.of(blocksOf(offset, length)));
            data.write(src, offset);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Zeroes the range, writing only where it does not read as zeros already, so holes of a
     * sparse file stay holes and untouched blocks need no copy into a snapshot.
     */
    void writeZeroes(long offset, long length) throws IOException {
        checkRange(offset, length, size(), "volume " + name());
        long end = offset + length;
        byte[] buf = new byte[(int) Math.min(BlockIo.CHUNK, length)];
        long pos = offset;
        while (pos < end) {
            int n = (int) Math.min(buf.length, Math.min(BlockIo.CHUNK - pos % BlockIo.CHUNK, end - pos));
            BlockIo.readFully(data, ByteBuffer.wrap(buf, 0, n), pos);
            List<long[]> ranges = new ArrayList<>();
            Run.Builder blocks = new Run.Builder();
            long p = pos;
            while (p < pos + n) {
                long q = Math.min((p / BS + 1) * BS, pos + n);
                if (!BlockIo.isZero(buf, (int) (p - pos), (int) (q - p))) {
                    long[] last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
                    if (last != null && last[1] == p) {
                        last[1] = q;
                    } else {
                        ranges.add(new long[] {p, q});
                    }
                    blocks.add(p / BS);
                }
                p = q;
            }
            if (!ranges.isEmpty()) {
                zero(ranges, blocks.build());
            }
            pos += n;
        }
    }

    private void zero(List<long[]> ranges, List<Run> blocks) throws IOException {
        if (snapshots.isEmpty()) {
            for (long[] r : ranges) {
                BlockIo.writeZeros(data, r[0], (int) (r[1] - r[0]));
            }
            return;
        }
        Lock lock = snapshotLock.readLock();
        lock.lock();
        try {
            preserveBeforeWrite(snapshots, blocks);
            for (long[] r : ranges) {
                BlockIo.writeZeros(data, r[0], (int) (r[1] - r[0]));
            }
        } finally {
            lock.unlock();
        }
    }

    void resize(long newSize) throws IOException {
        Names.size(newSize);
        Lock lock = snapshotLock.writeLock();
        lock.lock();
        try {
            long old = size();
            if (newSize < old) {
                throw new IllegalArgumentException("cannot shrink volume " + name() + " from " + old + " to " + newSize
                        + " bytes: volumes only grow");
            }
            if (newSize == old) {
                return;
            }
            data.setLength(newSize);
            data.force();
            info = manager.updateInfo(info.withSize(newSize));
            LOG.info("Volume {} grown from {} to {}", name(), ByteSize.format(old), ByteSize.format(newSize));
        } finally {
            lock.unlock();
        }
    }

    void force() throws IOException {
        data.force();
        for (SnapshotStore s : snapshots) {
            s.force();
        }
    }

    // ---- snapshots ------------------------------------------------------------------------

    SnapshotInfo createSnapshot(String name) throws IOException {
        Names.snapshot(name);
        Lock lock = snapshotLock.writeLock();
        lock.lock();
        try {
            List<SnapshotStore> snaps = snapshots;
            if (snaps.stream().anyMatch(s -> s.name().equals(name))) {
                throw new IllegalArgumentException("volume " + name() + " already has a snapshot named " + name);
            }
            // The snapshot's image is the volume as it is now: make that durable before it is shared.
            data.force();
            Registry.Snapshot record = new Registry.Snapshot(name, size(), manager.now(),
                    manager.nextSnapshotOrder(name()));
            SnapshotStore store = SnapshotStore.create(storage, dir, info.id(), record);
            try {
                manager.addSnapshot(name(), record);
            } catch (IOException | RuntimeException e) {
                // The files stay: the registry may hold the snapshot after all (a failed directory sync),
                // and if it does not, they are removed on the next open or replaced by the next snapshot.
                closeQuietly(store);
                throw e;
            }
            List<SnapshotStore> next = new ArrayList<>(snaps);
            next.add(store);
            snapshots = List.copyOf(next);
            LOG.info("Snapshot {}@{} created ({})", name(), name, ByteSize.format(record.size()));
            return info(store);
        } finally {
            lock.unlock();
        }
    }

    List<SnapshotInfo> snapshots() {
        List<SnapshotInfo> out = new ArrayList<>();
        for (SnapshotStore s : snapshots) {
            out.add(info(s));
        }
        return out;
    }

    private SnapshotInfo info(SnapshotStore s) {
        Registry.Snapshot r = s.record();
        return new SnapshotInfo(name(), r.name(), r.size(), r.created(), s.preservedBlocks() * BS);
    }

    void deleteSnapshot(String name) throws IOException {
        if (find(snapshots, name) < 0) {
            throw noSnapshot(name);
        }
        manager.checkSnapshotDelete(name(), name);
        Lock lock = snapshotLock.writeLock();
        lock.lock();
        try {
            List<SnapshotStore> snaps = snapshots;
            int k = find(snaps, name);
            if (k < 0) {
                throw noSnapshot(name);
            }
            SnapshotStore s = snaps.get(k);
            // Older snapshots that read these blocks through s get their own copy first.
            Map<SnapshotStore, Run.Builder> plan = new LinkedHashMap<>();
            if (k > 0) {
                RoaringBitmap preserved = s.copyOfPreserved();
                preserved.forEach((int b) -> {
                    long block = Integer.toUnsignedLong(b);
                    SnapshotStore t = target(block, snaps, k - 1);
                    if (t != null) {
                        plan.computeIfAbsent(t, x -> new Run.Builder()).add(block);
                    }
                });
            }
            for (Map.Entry<SnapshotStore, Run.Builder> e : plan.entrySet()) {
                preserve(e.getKey(), e.getValue().build(), s.data());
            }
            manager.removeSnapshot(name(), name);
            List<SnapshotStore> next = new ArrayList<>(snaps);
            next.remove(k);
            snapshots = List.copyOf(next);
            closeQuietly(s);
            deleteFiles(s.record());
            LOG.info("Snapshot {}@{} deleted", name(), name);
        } finally {
            lock.unlock();
        }
    }

    void readSnapshot(String name, ByteBuffer dst, long offset) throws IOException {
        Lock lock = snapshotLock.readLock();
        lock.lock();
        try {
            List<SnapshotStore> snaps = snapshots;
            int k = find(snaps, name);
            if (k < 0) {
                throw noSnapshot(name);
            }
            checkRange(offset, dst.remaining(), snaps.get(k).size(), "snapshot " + name() + "@" + name);
            readSnapshot(snaps, k, dst, offset);
        } finally {
            lock.unlock();
        }
    }

    /** Reads snapshot {@code k}'s image; the caller holds {@link #snapshotLock}. */
    private void readSnapshot(List<SnapshotStore> snaps, int k, ByteBuffer dst, long offset) throws IOException {
        int length = dst.remaining();
        if (length == 0) {
            return;
        }
        int base = dst.position();
        long end = offset + length;
        long block = offset / BS;
        long last = (end - 1) / BS;
        while (block <= last) {
            StorageFile source = source(snaps, k, block);
            long runEnd = block + 1;
            while (runEnd <= last && source(snaps, k, runEnd) == source) {
                runEnd++;
            }
            long from = Math.max(offset, block * BS);
            long to = Math.min(end, runEnd * BS);
            ByteBuffer slice = dst.duplicate();
            slice.limit(base + (int) (to - offset));
            slice.position(base + (int) (from - offset));
            BlockIo.readFully(source, slice, from);
            block = runEnd;
        }
        dst.position(base + length);
    }

    /** Where snapshot {@code k} finds block {@code b}: the first store from it towards the newest that has it. */
    private StorageFile source(List<SnapshotStore> snaps, int k, long b) {
        for (int i = k; i < snaps.size(); i++) {
            SnapshotStore s = snaps.get(i);
            if (s.isPreserved(b)) {
                return s.data();
            }
        }
        return data;
    }

    /**
     * Makes the live volume equal to the snapshot's image and size. Blocks no snapshot from
     * this one on has preserved are unchanged since it was taken; every other block is written
     * with the snapshot's view through the copy-on-write path, so newer snapshots stay intact.
     */
    void rollback(String name) throws IOException {
        Lock lock = snapshotLock.writeLock();
        lock.lock();
        try {
            List<SnapshotStore> snaps = snapshots;
            int k = find(snaps, name);
            if (k < 0) {
                throw noSnapshot(name);
            }
            SnapshotStore s = snaps.get(k);
            long liveSize = size();
            RoaringBitmap changed = new RoaringBitmap();
            for (int i = k; i < snaps.size(); i++) {
                changed.or(snaps.get(i).copyOfPreserved());
            }
            if (s.size() > liveSize) {
                data.setLength(s.size());
            }
            long rewritten = 0;
            byte[] image = new byte[BlockIo.CHUNK];
            byte[] live = new byte[BlockIo.CHUNK];
            for (Run run : Run.of(changed, s.blocks())) {
                for (long b = run.start(); b < run.end(); b += CHUNK_BLOCKS) {
                    int n = (int) Math.min(CHUNK_BLOCKS, run.end() - b);
                    readSnapshot(snaps, k, ByteBuffer.wrap(image, 0, n * BS), b * BS);
                    BlockIo.readFully(data, ByteBuffer.wrap(live, 0, n * BS), b * BS);
                    Run.Builder differ = new Run.Builder();
                    for (int i = 0; i < n; i++) {
                        if (Arrays.mismatch(image, i * BS, (i + 1) * BS, live, i * BS, (i + 1) * BS) >= 0) {
                            differ.add(b + i);
                        }
                    }
                    List<Run> runs = differ.build();
                    if (runs.isEmpty()) {
                        continue;
                    }
                    preserveBeforeWrite(snaps, runs);
                    for (Run r : runs) {
                        int at = (int) (r.start() - b) * BS;
                        data.write(ByteBuffer.wrap(image, at, (int) r.count() * BS), r.start() * BS);
                        rewritten += r.count();
                    }
                }
            }
            if (s.size() < liveSize) {
                // Blocks past the snapshot's end vanish from the volume: newer snapshots keep them.
                preserveBeforeWrite(snaps, List.of(new Run(s.blocks(), (liveSize - s.size()) / BS)));
                data.setLength(s.size());
            }
            data.force();
            if (s.size() != liveSize) {
                info = manager.updateInfo(info.withSize(s.size()));
            }
            LOG.info("Volume {} rolled back to snapshot {} ({} blocks rewritten, size {})", name(), name, rewritten,
                    ByteSize.format(s.size()));
        } finally {
            lock.unlock();
        }
    }

    // ---- copy-on-write --------------------------------------------------------------------

    /**
     * Copies the current content of the blocks about to change into the snapshots that still
     * read them from the live volume, durably. One batch: per target store, the copies, one
     * force of the store, one log append and one force of the log.
     */
    private void preserveBeforeWrite(List<SnapshotStore> snaps, List<Run> blocks) throws IOException {
        if (snaps.isEmpty()) {
            return;
        }
        Map<SnapshotStore, Run.Builder> plan = new LinkedHashMap<>();
        int newest = snaps.size() - 1;
        for (Run r : blocks) {
            for (long b = r.start(); b < r.end(); b++) {
                SnapshotStore t = target(b, snaps, newest);
                if (t != null) {
                    plan.computeIfAbsent(t, x -> new Run.Builder()).add(b);
                }
            }
        }
        for (Map.Entry<SnapshotStore, Run.Builder> e : plan.entrySet()) {
            preserve(e.getKey(), e.getValue().build(), data);
        }
    }

    /**
     * The snapshot that must receive block {@code b} before its current holder (the live
     * volume, or the store of the snapshot above {@code from}) loses it: the newest snapshot
     * at or below {@code from} that covers the block, unless that one preserved it already.
     * Normally the newest snapshot; an older one only for blocks past the end of newer,
     * smaller snapshots (after a rollback shrank the volume).
     */
    private static SnapshotStore target(long b, List<SnapshotStore> snaps, int from) {
        for (int i = from; i >= 0; i--) {
            SnapshotStore s = snaps.get(i);
            if (b < s.blocks()) {
                return s.isPreserved(b) ? null : s;
            }
        }
        return null;
    }

    /** Copies blocks from {@code source} into {@code target}'s store at the same offsets, durably. */
    private static void preserve(SnapshotStore target, List<Run> runs, StorageFile source) throws IOException {
        byte[] buf = new byte[BlockIo.CHUNK];
        byte[] stored = null;
        boolean[] write = new boolean[CHUNK_BLOCKS];
        for (Run run : runs) {
            for (long b = run.start(); b < run.end(); b += CHUNK_BLOCKS) {
                int n = (int) Math.min(CHUNK_BLOCKS, run.end() - b);
                BlockIo.readFully(source, ByteBuffer.wrap(buf, 0, n * BS), b * BS);
                boolean anyZero = false;
                for (int i = 0; i < n; i++) {
                    write[i] = !BlockIo.isZero(buf, i * BS, BS);
                    anyZero |= !write[i];
                }
                if (anyZero) {
                    // A zero block need not be written where the store reads as zeros already (a hole),
                    // which keeps the stores of thin volumes thin.
                    if (stored == null) {
                        stored = new byte[BlockIo.CHUNK];
                    }
                    BlockIo.readFully(target.data(), ByteBuffer.wrap(stored, 0, n * BS), b * BS);
                    for (int i = 0; i < n; i++) {
                        write[i] = write[i] || !BlockIo.isZero(stored, i * BS, BS);
                    }
                }
                int i = 0;
                while (i < n) {
                    int j = i;
                    while (j < n && write[j]) {
                        j++;
                    }
                    if (j > i) {
                        target.data().write(ByteBuffer.wrap(buf, i * BS, (j - i) * BS), (b + i) * BS);
                    }
                    i = j + 1;
                }
            }
        }
        target.data().force();
        target.appendPreserved(runs);
    }

    // ---- helpers --------------------------------------------------------------------------

    private static int find(List<SnapshotStore> snaps, String name) {
        for (int i = 0; i < snaps.size(); i++) {
            if (snaps.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }

    private IllegalArgumentException noSnapshot(String snapshot) {
        return new IllegalArgumentException("volume " + name() + " has no snapshot named " + Names.quote(snapshot));
    }

    private static Run blocksOf(long offset, long length) {
        long first = offset / BS;
        return new Run(first, (offset + length - 1) / BS - first + 1);
    }

    private static void checkRange(long offset, long length, long size, String what) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IllegalArgumentException("range of " + length + " bytes at offset " + offset + " is outside "
                    + what + " of " + size + " bytes");
        }
    }

    private void deleteFiles(Registry.Snapshot s) {
        for (Path p : List.of(SnapshotStore.dataPath(dir, s.order()), SnapshotStore.logPath(dir, s.order()))) {
            try {
                storage.deleteIfExists(p);
            } catch (IOException e) {
                // Harmless: the next open of the volume removes files no snapshot owns.
                LOG.warn("Could not remove {} of snapshot {}@{}; it is removed when the volume is next opened", p,
                        name(), s.name(), e);
            }
        }
    }

    void closeFiles() {
        for (SnapshotStore s : snapshots) {
            closeQuietly(s);
        }
        try {
            data.close();
        } catch (IOException e) {
            LOG.warn("Closing the data file of volume {} failed", name(), e);
        }
    }

    private static void closeQuietly(SnapshotStore s) {
        try {
            s.close();
        } catch (IOException e) {
            LOG.warn("Closing the store of snapshot {} failed", s.name(), e);
        }
    }
}
