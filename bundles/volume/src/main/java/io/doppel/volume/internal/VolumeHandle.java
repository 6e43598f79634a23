package io.doppel.volume.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeInfo;

/** One reference to an {@link OpenVolume}; closing it releases the reference once. */
final class VolumeHandle implements Volume {

    private final VolumeManager manager;
    private final OpenVolume volume;
    private final AtomicBoolean closed = new AtomicBoolean();

    VolumeHandle(VolumeManager manager, OpenVolume volume) {
        this.manager = manager;
        this.volume = volume;
    }

    private void check() throws IOException {
        if (manager.isStopped()) {
            throw VolumeManager.stopped(null);
        }
        if (closed.get()) {
            throw new IOException("this handle on volume " + volume.name() + " is closed");
        }
    }

    /** An I/O error caused by the service closing the files under a running operation says so. */
    private IOException translate(IOException e) {
        return manager.isStopped() ? VolumeManager.stopped(e) : e;
    }

    @Override
    public VolumeInfo info() {
        return volume.info();
    }

    @Override
    public long size() {
        return volume.size();
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        check();
        try {
            volume.read(dst, offset);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        check();
        try {
            volume.write(src, offset);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void writeZeroes(long offset, long length) throws IOException {
        check();
        try {
            volume.writeZeroes(offset, length);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        check();
        try {
            volume.resize(newSize);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void force() throws IOException {
        check();
        try {
            volume.force();
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public SnapshotInfo createSnapshot(String name) throws IOException {
        check();
        try {
            return volume.createSnapshot(name);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public List<SnapshotInfo> snapshots() {
        if (manager.isStopped()) {
            throw new IllegalStateException("volume service stopped");
        }
        return volume.snapshots();
    }

    @Override
    public void deleteSnapshot(String name) throws IOException {
        check();
        try {
            volume.deleteSnapshot(name);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void readSnapshot(String name, ByteBuffer dst, long offset) throws IOException {
        check();
        try {
            volume.readSnapshot(name, dst, offset);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void rollback(String name) throws IOException {
        check();
        try {
            volume.rollback(name);
        } catch (IOException e) {
            throw translate(e);
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            manager.release(volume);
        }
    }

    @Override
    public String toString() {
        return "volume " + volume.name() + (closed.get() ? " (closed handle)" : "");
    }
}
