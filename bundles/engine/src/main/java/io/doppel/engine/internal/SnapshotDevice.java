package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.IoError;
import io.doppel.api.volume.SnapshotInfo;

/** A snapshot served read-only. Reads take the volume's block locks: unpreserved blocks come from the live volume. */
final class SnapshotDevice implements BlockDevice {

    private final Engine engine;
    private final VolumeSlot slot;
    private final SnapshotInfo snapshot;
    private final AtomicBoolean closed = new AtomicBoolean();

    SnapshotDevice(Engine engine, VolumeSlot slot, SnapshotInfo snapshot) {
        this.engine = engine;
        this.slot = slot;
        this.snapshot = snapshot;
        slot.devices.incrementAndGet();
    }

    @Override
    public String name() {
        return slot.name + "@" + snapshot.name();
    }

    @Override
    public long size() {
        return snapshot.size();
    }

    @Override
    public boolean readOnly() {
        return true;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        if (closed.get()) {
            throw new DeviceException(IoError.ESHUTDOWN, "device " + name() + " is closed");
        }
        if (offset < 0 || offset + dst.remaining() > snapshot.size()) {
            throw new DeviceException(IoError.EINVAL, "request [" + offset + ", +" + dst.remaining() + ") is outside "
                    + name() + " (" + snapshot.size() + " bytes)");
        }
        engine.readSnapshot(slot, snapshot.name(), offset, dst);
    }

    private DeviceException readOnlyError() {
        return new DeviceException(IoError.EPERM, "snapshot " + name() + " is read-only");
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        throw readOnlyError();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean fua) throws IOException {
        throw readOnlyError();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        throw readOnlyError();
    }

    @Override
    public void flush() {
        // Nothing to make durable.
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            slot.devices.decrementAndGet();
        }
    }
}
