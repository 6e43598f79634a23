package io.doppel.testkit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;

/**
 * An in-memory {@link Storage} that knows what a power cut would lose.
 *
 * <p>Each file has a current image (what reads see) and a durable image (what survives a
 * power cut). Writes change the current image and mark their 4 KiB pages dirty;
 * {@link StorageFile#force()} copies the dirty pages into the durable image.
 * {@link #simulatePowerCut(long)} keeps a random subset of each file's dirty pages (chosen
 * by the seed), drops the rest, and invalidates every open handle, as if the machine lost
 * power. A page written twice since the last force survives with its latest content or
 * not at all. Directory operations (creating, renaming, deleting files, atomic writes) are
 * durable when they return, as {@link Storage} promises.
 *
 * <p>Faults: {@link #capacity(long)} makes writes past a byte budget fail with "No space left
 * on device"; {@link #writeFault(Predicate)} fails writes to chosen paths.
 */
public final class SimulatedStorage implements Storage {

    public static final int PAGE = 4096;

    private final Map<Path, FileState> files = new HashMap<>();
    private final Set<Path> directories = new HashSet<>();
    private long capacity = Long.MAX_VALUE;
    private volatile Predicate<Path> writeFault = p -> false;
    private volatile java.util.function.Consumer<Path> ioHook = p -> { };
    private int generation;
    private long forces;

    private static final class FileState {
        final Map<Long, byte[]> current = new HashMap<>();
        final Map<Long, byte[]> durable = new HashMap<>();
        final TreeSet<Long> dirty = new TreeSet<>();
        long currentSize;
        long durableSize;
    }

    private static Path key(Path p) {
        return p.toAbsolutePath().normalize();
    }

    // ---- faults and inspection ---------------------------------------------------------

    /** Total bytes (whole pages of current images) the storage may hold; writes beyond fail. */
    public synchronized SimulatedStorage capacity(long bytes) {
        this.capacity = bytes;
        return this;
    }

    /** Writes to paths matching the predicate fail with an IOException. */
    /**
     * Runs {@code hook} in the middle of every read and write of a file, on the thread doing it:
     * a test can hold that thread inside the I/O. As with a FileChannel, a thread interrupted
     * meanwhile closes the file and gets {@link java.nio.channels.ClosedByInterruptException}.
     */
    public SimulatedStorage ioHook(java.util.function.Consumer<Path> hook) {
        this.ioHook = hook == null ? p -> { } : hook;
        return this;
    }

    public SimulatedStorage writeFault(Predicate<Path> fault) {
        this.writeFault = fault == null ? p -> false : fault;
        return this;
    }

    /** Number of {@link StorageFile#force()} calls so far. */
    public synchronized long forces() {
        return forces;
    }

    /** Bytes held by current images (allocated pages). */
    public synchronized long usedBytes() {
        long n = 0;
        for (FileState f : files.values()) {
            n += (long) f.current.size() * PAGE;
        }
        return n;
    }

    /** Pages written since their file's last force, over all files. */
    public synchronized int dirtyPages() {
        int n = 0;
        for (FileState f : files.values()) {
            n += f.dirty.size();
        }
        return n;
    }

    /**
     * Loses power: for each file, each page written since the last force survives with
     * probability one half (decided by {@code seed}); then every open handle is dead.
     *
     * @return how many dirty pages were dropped
     */
    public synchronized int simulatePowerCut(long seed) {
        Random rnd = new Random(seed);
        int dropped = 0;
        List<Path> names = new ArrayList<>(files.keySet());
        names.sort(null); // deterministic for a seed
        for (Path name : names) {
            FileState f = files.get(name);
            long size = f.durableSize;
            for (long page : f.dirty) {
                if (rnd.nextBoolean()) {
                    byte[] data = f.current.get(page);
                    if (data == null) {
                        f.durable.remove(page);
                    } else {
                        f.durable.put(page, data.clone());
                    }
                    // A kept page past the durable end extends the file up to what was written.
                    long end = Math.min(f.currentSize, (page + 1) * PAGE);
                    size = Math.max(size, end);
                } else {
                    dropped++;
                }
            }
            f.durableSize = size;
            f.durable.keySet().removeIf(p -> (long) p * PAGE >= f.durableSize);
            f.current.clear();
            for (Map.Entry<Long, byte[]> e : f.durable.entrySet()) {
                f.current.put(e.getKey(), e.getValue().clone());
            }
            f.currentSize = f.durableSize;
            f.dirty.clear();
        }
        generation++;
        return dropped;
    }

    /** Flips one bit in both images of a file (bit rot on disk). */
    public synchronized void flipBit(Path path, long offset, int bit) throws IOException {
        FileState f = state(path);
        if (offset >= f.currentSize) {
            throw new IllegalArgumentException("offset " + offset + " is past the end of " + path);
        }
        long page = offset / PAGE;
        int in = (int) (offset % PAGE);
        for (Map<Long, byte[]> img : List.of(f.current, f.durable)) {
            byte[] data = img.computeIfAbsent(page, k -> new byte[PAGE]);
            data[in] ^= (byte) (1 << bit);
        }
    }

    /** Cuts a file to {@code length} bytes in both images (a torn append after a crash). */
    public synchronized void truncate(Path path, long length) throws IOException {
        FileState f = state(path);
        f.currentSize = Math.min(f.currentSize, length);
        f.durableSize = Math.min(f.durableSize, length);
        for (Map<Long, byte[]> img : List.of(f.current, f.durable)) {
            img.keySet().removeIf(p -> (long) p * PAGE >= length);
            byte[] last = img.get(length / PAGE);
            if (last != null) {
                java.util.Arrays.fill(last, (int) (length % PAGE), PAGE, (byte) 0);
            }
        }
    }

    /** Overwrites bytes in both images (a garbled record on disk). */
    public synchronized void overwrite(Path path, long offset, byte[] bytes) throws IOException {
        FileState f = state(path);
        for (int i = 0; i < bytes.length; i++) {
            long off = offset + i;
            long page = off / PAGE;
            for (Map<Long, byte[]> img : List.of(f.current, f.durable)) {
                img.computeIfAbsent(page, k -> new byte[PAGE])[(int) (off % PAGE)] = bytes[i];
            }
        }
        f.currentSize = Math.max(f.currentSize, offset + bytes.length);
        f.durableSize = Math.max(f.durableSize, offset + bytes.length);
    }

    // ---- Storage -----------------------------------------------------------------------

    @Override
    public synchronized StorageFile open(Path path, boolean create) throws IOException {
        Path k = key(path);
        if (!files.containsKey(k)) {
            if (!create) {
                throw new NoSuchFileException(path.toString());
            }
            if (!directories.contains(k.getParent())) {
                throw new NoSuchFileException(k.getParent().toString(), null, "directory does not exist");
            }
            files.put(k, new FileState());
        }
        return new SimFile(k, generation);
    }

    @Override
    public synchronized boolean exists(Path path) {
        Path k = key(path);
        return files.containsKey(k) || directories.contains(k);
    }

    @Override
    public synchronized void createDirectories(Path dir) throws IOException {
        Path k = key(dir);
        if (files.containsKey(k)) {
            throw new FileAlreadyExistsException(dir.toString(), null, "is a file");
        }
        for (Path p = k; p != null; p = p.getParent()) {
            directories.add(p);
        }
    }

    @Override
    public synchronized List<Path> list(Path dir) {
        Path k = key(dir);
        TreeSet<Path> out = new TreeSet<>();
        for (Path p : files.keySet()) {
            if (k.equals(p.getParent())) {
                out.add(p);
            }
        }
        for (Path p : directories) {
            if (k.equals(p.getParent())) {
                out.add(p);
            }
        }
        return new ArrayList<>(out);
    }

    @Override
    public synchronized void deleteIfExists(Path path) throws IOException {
        Path k = key(path);
        if (files.remove(k) != null) {
            return;
        }
        if (directories.contains(k)) {
            if (!list(k).isEmpty()) {
                throw new IOException("directory not empty: " + path);
            }
            directories.remove(k);
        }
    }

    @Override
    public synchronized void rename(Path from, Path to) throws IOException {
        Path f = key(from);
        FileState st = files.remove(f);
        if (st == null) {
            throw new NoSuchFileException(from.toString());
        }
        files.put(key(to), st);
    }

    @Override
    public synchronized void writeAtomically(Path target, ByteBuffer content) throws IOException {
        Path k = key(target);
        if (!directories.contains(k.getParent())) {
            throw new NoSuchFileException(k.getParent().toString(), null, "directory does not exist");
        }
        if (writeFault.test(k)) {
            throw new IOException("simulated write fault on " + target);
        }
        ByteBuffer b = content.duplicate();
        FileState st = new FileState();
        long need = ((long) b.remaining() + PAGE - 1) / PAGE * PAGE;
        FileState old = files.get(k);
        long oldBytes = old == null ? 0 : (long) old.current.size() * PAGE;
        if (usedBytes() - oldBytes + need > capacity) {
            throw new IOException("No space left on device (simulated): " + target);
        }
        long pos = 0;
        while (b.hasRemaining()) {
            byte[] page = new byte[PAGE];
            int n = Math.min(PAGE, b.remaining());
            b.get(page, 0, n);
            st.current.put(pos / PAGE, page);
            st.durable.put(pos / PAGE, page.clone());
            pos += n;
        }
        st.currentSize = pos;
        st.durableSize = pos;
        files.put(k, st);
    }

    @Override
    public synchronized byte[] readAll(Path path) throws IOException {
        FileState f = state(path);
        if (f.currentSize > Integer.MAX_VALUE) {
            throw new IOException("too large to read whole: " + path);
        }
        ByteBuffer b = ByteBuffer.allocate((int) f.currentSize);
        readInto(f, b, 0);
        return b.array();
    }

    @Override
    public synchronized long usableSpace(Path dir) {
        return Math.max(0, capacity - usedBytes());
    }

    @Override
    public synchronized long totalSpace(Path dir) {
        return capacity == Long.MAX_VALUE ? Long.MAX_VALUE / 2 : capacity;
    }

    private FileState state(Path path) throws NoSuchFileException {
        FileState f = files.get(key(path));
        if (f == null) {
            throw new NoSuchFileException(path.toString());
        }
        return f;
    }

    private static int readInto(FileState f, ByteBuffer dst, long position) {
        if (position >= f.currentSize) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), f.currentSize - position);
        long off = position;
        int left = n;
        while (left > 0) {
            long page = off / PAGE;
            int in = (int) (off % PAGE);
            int chunk = Math.min(left, PAGE - in);
            byte[] data = f.current.get(page);
            if (data == null) {
                for (int i = 0; i < chunk; i++) {
                    dst.put((byte) 0);
                }
            } else {
                dst.put(data, in, chunk);
            }
            off += chunk;
            left -= chunk;
        }
        return n;
    }

    private final class SimFile implements StorageFile {
        private final Path path;
        private final int openedIn;
        private volatile boolean closed;

        SimFile(Path path, int generation) {
            this.path = path;
            this.openedIn = generation;
        }

        private FileState live() throws IOException {
            if (closed) {
                throw new java.nio.channels.ClosedChannelException();
            }
            if (Thread.currentThread().isInterrupted()) {
                // as a FileChannel: I/O by an interrupted thread closes the channel for every user
                closed = true;
                throw new java.nio.channels.ClosedByInterruptException();
            }
            if (openedIn != generation) {
                throw new IOException("simulated power cut: handle on " + path + " is dead");
            }
            FileState f = files.get(path);
            if (f == null) {
                throw new NoSuchFileException(path + " (deleted)");
            }
            return f;
        }

        @Override
        public Path path() {
            return path;
        }

        @Override
        public long size() throws IOException {
            synchronized (SimulatedStorage.this) {
                return live().currentSize;
            }
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            synchronized (SimulatedStorage.this) {
                live();
            }
            during();
            synchronized (SimulatedStorage.this) {
                return readInto(live(), dst, position);
            }
        }

        /** The middle of an I/O: the hook, then what an interrupt meanwhile does to a FileChannel. */
        private void during() throws IOException {
            ioHook.accept(path);
            if (Thread.currentThread().isInterrupted()) {
                closed = true;
                throw new java.nio.channels.ClosedByInterruptException();
            }
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            write(new ByteBuffer[] {src}, position);
        }

        @Override
        public void write(ByteBuffer[] srcs, long position) throws IOException {
            synchronized (SimulatedStorage.this) {
                live();
            }
            during();
            synchronized (SimulatedStorage.this) {
                FileState f = live();
                if (writeFault.test(path)) {
                    throw new IOException("simulated write fault on " + path);
                }
                long total = 0;
                for (ByteBuffer b : srcs) {
                    total += b.remaining();
                }
                long newPages = 0;
                for (long p = position / PAGE; p <= (position + total - 1) / PAGE && total > 0; p++) {
                    if (!f.current.containsKey(p)) {
                        newPages++;
                    }
                }
                if (usedBytes() + newPages * PAGE > capacity) {
                    throw new IOException("No space left on device (simulated): " + path);
                }
                long off = position;
                for (ByteBuffer b : srcs) {
                    while (b.hasRemaining()) {
                        long page = off / PAGE;
                        int in = (int) (off % PAGE);
                        int chunk = Math.min(b.remaining(), PAGE - in);
                        byte[] data = f.current.computeIfAbsent(page, k -> new byte[PAGE]);
                        b.get(data, in, chunk);
                        f.dirty.add(page);
                        off += chunk;
                    }
                }
                f.currentSize = Math.max(f.currentSize, off);
            }
        }

        @Override
        public void setLength(long length) throws IOException {
            synchronized (SimulatedStorage.this) {
                FileState f = live();
                if (length < f.currentSize) {
                    for (long p = length / PAGE; p <= f.currentSize / PAGE; p++) {
                        if ((long) p * PAGE >= length) {
                            if (f.current.remove(p) != null) {
                                f.dirty.add(p);
                            }
                        } else {
                            byte[] last = f.current.get(p);
                            if (last != null) {
                                java.util.Arrays.fill(last, (int) (length % PAGE), PAGE, (byte) 0);
                                f.dirty.add(p);
                            }
                        }
                    }
                }
                f.currentSize = length;
            }
        }

        @Override
        public void force() throws IOException {
            synchronized (SimulatedStorage.this) {
                FileState f = live();
                for (long page : f.dirty) {
                    byte[] data = f.current.get(page);
                    if (data == null) {
                        f.durable.remove(page);
                    } else {
                        f.durable.put(page, data.clone());
                    }
                }
                f.dirty.clear();
                f.durableSize = f.currentSize;
                f.durable.keySet().removeIf(p -> (long) p * PAGE >= f.durableSize);
                forces++;
            }
        }

        @Override
        public void close() {
            closed = true;
        }

        @Override
        public String toString() {
            return "sim:" + path;
        }
    }
}
