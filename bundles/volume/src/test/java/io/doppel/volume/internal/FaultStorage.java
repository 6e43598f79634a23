package io.doppel.volume.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.testkit.SimulatedStorage;

/**
 * A {@link SimulatedStorage} with test controls: free space per directory, a power cut at
 * the n-th mutating operation (write, force, set length, directory change), and the largest
 * write seen on files named {@code data}.
 */
final class FaultStorage implements Storage {

    final SimulatedStorage sim;
    private final Map<Path, Long> usable = new ConcurrentHashMap<>();
    private long opsLeft = Long.MAX_VALUE;
    private long cutSeed;
    private boolean off;
    final AtomicInteger largestDataWrite = new AtomicInteger();
    final AtomicInteger dataWrites = new AtomicInteger();

    FaultStorage(SimulatedStorage sim) {
        this.sim = sim;
    }

    FaultStorage usable(Path dir, long bytes) {
        usable.put(dir.toAbsolutePath().normalize(), bytes);
        return this;
    }

    /** The {@code ops}-th mutating operation from now cuts the power (with {@code seed}) instead of running. */
    synchronized void cutPowerAt(long ops, long seed) {
        opsLeft = ops;
        cutSeed = seed;
    }

    synchronized boolean powerCut() {
        return off;
    }

    private synchronized void step() throws IOException {
        if (off) {
            throw new IOException("simulated power cut: power is off");
        }
        if (--opsLeft == 0) {
            sim.simulatePowerCut(cutSeed);
            off = true;
            throw new IOException("simulated power cut");
        }
    }

    private synchronized void alive() throws IOException {
        if (off) {
            throw new IOException("simulated power cut: power is off");
        }
    }

    @Override
    public StorageFile open(Path path, boolean create) throws IOException {
        if (create) {
            step();
        } else {
            alive();
        }
        StorageFile f = sim.open(path, create);
        return new StorageFile() {
            @Override
            public Path path() {
                return f.path();
            }

            @Override
            public long size() throws IOException {
                alive();
                return f.size();
            }

            @Override
            public int read(ByteBuffer dst, long position) throws IOException {
                alive();
                return f.read(dst, position);
            }

            @Override
            public void write(ByteBuffer src, long position) throws IOException {
                step();
                if (f.path().getFileName().toString().equals("data")) {
                    largestDataWrite.accumulateAndGet(src.remaining(), Math::max);
                    dataWrites.incrementAndGet();
                }
                f.write(src, position);
            }

            @Override
            public void write(ByteBuffer[] srcs, long position) throws IOException {
                step();
                f.write(srcs, position);
            }

            @Override
            public void setLength(long length) throws IOException {
                step();
                f.setLength(length);
            }

            @Override
            public void force() throws IOException {
                step();
                f.force();
            }

            @Override
            public void close() throws IOException {
                f.close();
            }
        };
    }

    @Override
    public boolean exists(Path path) {
        return sim.exists(path);
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
        step();
        sim.createDirectories(dir);
    }

    @Override
    public List<Path> list(Path dir) throws IOException {
        alive();
        return sim.list(dir);
    }

    @Override
    public void deleteIfExists(Path path) throws IOException {
        step();
        sim.deleteIfExists(path);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
        step();
        sim.rename(from, to);
    }

    @Override
    public void writeAtomically(Path target, ByteBuffer content) throws IOException {
        step();
        sim.writeAtomically(target, content);
    }

    @Override
    public byte[] readAll(Path path) throws IOException {
        alive();
        return sim.readAll(path);
    }

    @Override
    public long usableSpace(Path dir) throws IOException {
        Long u = usable.get(dir.toAbsolutePath().normalize());
        return u != null ? u : sim.usableSpace(dir);
    }

    @Override
    public long totalSpace(Path dir) throws IOException {
        return sim.totalSpace(dir);
    }
}
