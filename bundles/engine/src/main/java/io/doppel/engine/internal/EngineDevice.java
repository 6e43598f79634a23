package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.IoError;
import io.doppel.api.journal.RecordKind;

/** A volume served through the engine's write path. */
final class EngineDevice implements BlockDevice {

    private final Engine engine;
    private final VolumeSlot slot;
    private final boolean readOnly;
    private final AtomicBoolean closed = new AtomicBoolean();

    EngineDevice(Engine engine, VolumeSlot slot, boolean readOnly) {
        this.engine = engine;
        this.slot = slot;
        this.readOnly = readOnly;
        slot.devices.incrementAndGet();
        if (!readOnly) {
            slot.writers.incrementAndGet();
        }
    }

    @Override
    public String name() {
        return slot.name;
    }

    @Override
    public long size() {
        return slot.size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public boolean fastWrites() {
        return !slot.group.waitsForPeers;
    }

    private void checkOpen() throws DeviceException {
        if (closed.get()) {
            throw new DeviceException(IoError.ESHUTDOWN, "device " + slot.name + " is closed");
        }
    }

    private void checkWritable() throws DeviceException {
        checkOpen();
        if (readOnly) {
            throw new DeviceException(IoError.EPERM, "volume " + slot.name + " is open read-only");
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        checkOpen();
        engine.read(slot, offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        checkWritable();
        engine.write(slot, RecordKind.WRITE, offset, src.remaining(), src, fua);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean fua) throws IOException {
        checkWritable();
        engine.write(slot, RecordKind.ZERO, offset, length, null, fua);
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        checkWritable();
        engine.write(slot, RecordKind.TRIM, offset, length, null, fua);
    }

    @Override
    public void flush() throws IOException {
        checkOpen();
        engine.flush(slot);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            slot.devices.decrementAndGet();
            if (!readOnly) {
                slot.writers.decrementAndGet();
            }
        }
    }

    @Override
    public String toString() {
        return slot.name + (readOnly ? " (read-only)" : "");
    }
}
