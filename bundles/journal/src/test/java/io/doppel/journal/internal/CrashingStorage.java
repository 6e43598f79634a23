package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.testkit.SimulatedStorage;

/**
 * A {@link SimulatedStorage} that loses power after a set number of changes: that change and
 * every later one fail, as if the process had died there. The test then cuts the power of the
 * simulated disk and reopens the journal from it, which shows what a crash between any two
 * steps of an operation leaves behind.
 */
final class CrashingStorage implements Storage {

    private final SimulatedStorage disk;
    private long changesLeft = Long.MAX_VALUE;
    private long changes;

    CrashingStorage(SimulatedStorage disk) {
        this.disk = disk;
    }

    /** Lets {@code n} more changes through; the next one and all after it fail. */
    synchronized void failAfter(long n) {
        changesLeft = n;
        changes = 0;
    }

    /** Changes made since {@link #failAfter}. */
    synchronized long changes() {
        return changes;
    }

    synchronized boolean dead() {
        return changesLeft < 0;
    }

    private synchronized void change(String what) throws IOException {
        if (changesLeft <= 0) {
            changesLeft = -1;
            throw new IOException("power lost before " + what);
        }
        changesLeft--;
        changes++;
    }

    @Override
    public StorageFile open(Path path, boolean create) throws IOException {
        if (create && !disk.exists(path)) {
            change("creating " + path);
        }
        return new File(disk.open(path, create));
    }

    @Override
    public boolean exists(Path path) {
        return disk.exists(path);
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
        change("creating " + dir);
        disk.createDirectories(dir);
    }

    @Override
    public List<Path> list(Path dir) throws IOException {
        return disk.list(dir);
    }

    @Override
    public void deleteIfExists(Path path) throws IOException {
        change("deleting " + path);
        disk.deleteIfExists(path);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
        change("renaming " + from);
        disk.rename(from, to);
    }

    @Override
    public void writeAtomically(Path target, ByteBuffer content) throws IOException {
        change("replacing " + target);
        disk.writeAtomically(target, content);
    }

    @Override
    public byte[] readAll(Path path) throws IOException {
        return disk.readAll(path);
    }

    @Override
    public long usableSpace(Path dir) {
        return disk.usableSpace(dir);
    }

    @Override
    public long totalSpace(Path dir) {
        return disk.totalSpace(dir);
    }

    private final class File implements StorageFile {
        private final StorageFile f;

        File(StorageFile f) {
            this.f = f;
        }

        @Override
        public Path path() {
            return f.path();
        }

        @Override
        public long size() throws IOException {
            return f.size();
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            return f.read(dst, position);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            change("writing " + f.path());
            f.write(src, position);
        }

        @Override
        public void write(ByteBuffer[] srcs, long position) throws IOException {
            change("writing " + f.path());
            f.write(srcs, position);
        }

        @Override
        public void setLength(long length) throws IOException {
            change("resizing " + f.path());
            f.setLength(length);
        }

        @Override
        public void force() throws IOException {
            change("forcing " + f.path());
            f.force();
        }

        @Override
        public void close() throws IOException {
            f.close();
        }
    }
}
