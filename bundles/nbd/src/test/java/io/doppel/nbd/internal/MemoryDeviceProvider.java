package io.doppel.nbd.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceException;
import io.doppel.api.device.DeviceProvider;
import io.doppel.api.device.IoError;

/**
 * Volumes in memory for the tests, with counters of what the server asked of them and hooks
 * to fail or hold requests.
 */
final class MemoryDeviceProvider implements DeviceProvider {

    /** Decides whether a device call fails; returns null to let it through. */
    interface Fault {
        IOException on(String op, long offset, long length);
    }

    private final Map<String, byte[]> volumes = new ConcurrentHashMap<>();
    private final Map<String, byte[]> snapshots = new ConcurrentHashMap<>();
    private final Map<String, Boolean> readOnlyVolumes = new ConcurrentHashMap<>();
    final AtomicInteger openDevices = new AtomicInteger();
    final AtomicInteger opened = new AtomicInteger();
    final AtomicLong flushes = new AtomicLong();
    final AtomicLong fuaWrites = new AtomicLong();
    final AtomicLong writes = new AtomicLong();
    final AtomicLong trims = new AtomicLong();
    final AtomicLong zeroes = new AtomicLong();
    final AtomicInteger callsStarted = new AtomicInteger();
    volatile Fault fault = (op, off, len) -> null;
    /** When set, every read or write waits for a permit. */
    volatile Semaphore gate;

    MemoryDeviceProvider volume(String name, int size) {
        volumes.put(name, new byte[size]);
        return this;
    }

    /** A volume whose devices say they are read-only (as on a secondary site). */
    MemoryDeviceProvider readOnlyVolume(String name, int size) {
        volume(name, size);
        readOnlyVolumes.put(name, true);
        return this;
    }

    MemoryDeviceProvider snapshot(String volume, String snapshot) {
        snapshots.put(volume + "@" + snapshot, volumes.get(volume).clone());
        return this;
    }

    byte[] data(String volume) {
        return volumes.get(volume);
    }

    String sha256(String volume) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(volumes.get(volume)));
    }

    @Override
    public BlockDevice open(String volume, boolean readOnly) {
        byte[] data = volumes.get(volume);
        if (data == null) {
            throw new IllegalArgumentException("volume " + volume + " does not exist");
        }
        return new Device(volume, data, readOnly || readOnlyVolumes.containsKey(volume));
    }

    @Override
    public BlockDevice openSnapshot(String volume, String snapshot) {
        if (!volumes.containsKey(volume)) {
            throw new IllegalArgumentException("volume " + volume + " does not exist");
        }
        byte[] data = snapshots.get(volume + "@" + snapshot);
        if (data == null) {
            throw new IllegalArgumentException("snapshot " + volume + "@" + snapshot + " does not exist");
        }
        return new Device(volume + "@" + snapshot, data, true);
    }

    private final class Device implements BlockDevice {
        private final String name;
        private final byte[] data;
        private final boolean readOnly;
        private volatile boolean closed;

        Device(String name, byte[] data, boolean readOnly) {
            this.name = name;
            this.data = data;
            this.readOnly = readOnly;
            openDevices.incrementAndGet();
            opened.incrementAndGet();
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public long size() {
            return data.length;
        }

        @Override
        public boolean readOnly() {
            return readOnly;
        }

        private void enter(String op, long offset, long length) throws IOException {
            if (closed) {
                throw new DeviceException(IoError.EIO, "device " + name + " is closed");
            }
            callsStarted.incrementAndGet();
            Semaphore g = gate;
            if (g != null) {
                g.acquireUninterruptibly();
            }
            IOException e = fault.on(op, offset, length);
            if (e != null) {
                throw e;
            }
            if (offset < 0 || offset + length > data.length) {
                throw new DeviceException(IoError.EINVAL, op + " beyond the end of " + name);
            }
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            enter("read", offset, dst.remaining());
            dst.put(data, (int) offset, dst.remaining());
        }

        @Override
        public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
            checkWritable();
            enter("write", offset, src.remaining());
            src.get(data, (int) offset, src.remaining());
            writes.incrementAndGet();
            if (fua) {
                fuaWrites.incrementAndGet();
            }
        }

        @Override
        public void writeZeroes(long offset, long length, boolean fua) throws IOException {
            checkWritable();
            enter("zero", offset, length);
            java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
            zeroes.incrementAndGet();
        }

        @Override
        public void trim(long offset, long length, boolean fua) throws IOException {
            checkWritable();
            enter("trim", offset, length);
            java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
            trims.incrementAndGet();
        }

        @Override
        public void flush() throws IOException {
            enter("flush", 0, 0);
            flushes.incrementAndGet();
        }

        private void checkWritable() throws DeviceException {
            if (readOnly) {
                throw new DeviceException(IoError.EPERM, name + " is read-only");
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                openDevices.decrementAndGet();
            }
        }
    }
}
