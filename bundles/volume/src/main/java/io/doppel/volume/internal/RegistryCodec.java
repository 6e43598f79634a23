package io.doppel.volume.internal;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.CRC32C;

import io.doppel.api.volume.VolumeInfo;

/**
 * The registry file format (big-endian).
 *
 * <pre>
 * int   magic 0x44505652 ("DPVR")
 * int   format version (1)
 * int   payload length
 * ...   payload:
 *         int nextId, int volumeCount, then per volume:
 *           int id, str name, str group, long size, str directory, long createdSecond, int createdNano,
 *           long nextSnapshotOrder, int snapshotCount, then per snapshot:
 *             str name, long size, long createdSecond, int createdNano, long order
 *       (str: int byte length, UTF-8 bytes)
 * int   CRC32C of everything before it
 * </pre>
 */
final class RegistryCodec {

    static final int MAGIC = 0x44505652;
    static final int VERSION = 1;
    private static final int HEADER = 12;
    private static final int MAX_STRING = 4096;

    private RegistryCodec() {
    }

    static ByteBuffer encode(Registry r) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(0); // payload length, patched below
            out.writeInt(r.nextId());
            out.writeInt(r.volumes().size());
            for (Registry.Entry e : r.volumes()) {
                VolumeInfo v = e.info();
                out.writeInt(v.id());
                writeString(out, v.name());
                writeString(out, v.group());
                out.writeLong(v.size());
                writeString(out, v.directory());
                out.writeLong(v.created().getEpochSecond());
                out.writeInt(v.created().getNano());
                out.writeLong(e.nextSnapshotOrder());
                out.writeInt(e.snapshots().size());
                for (Registry.Snapshot s : e.snapshots()) {
                    writeString(out, s.name());
                    out.writeLong(s.size());
                    out.writeLong(s.created().getEpochSecond());
                    out.writeInt(s.created().getNano());
                    out.writeLong(s.order());
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot happen: writing to memory", e);
        }
        byte[] body = bytes.toByteArray();
        ByteBuffer b = ByteBuffer.allocate(body.length + 4);
        b.put(body);
        b.putInt(8, body.length - HEADER);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, body.length);
        b.putInt(body.length, (int) crc.getValue());
        return b.rewind();
    }

    /** @throws IOException naming {@code file} and what is wrong with it */
    static Registry decode(byte[] data, Path file) throws IOException {
        if (data.length < HEADER + 4) {
            throw damaged(file, "it is " + data.length + " bytes long, shorter than the smallest registry");
        }
        ByteBuffer b = ByteBuffer.wrap(data);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw damaged(file, String.format("bad magic 0x%08x (expected 0x%08x): not a volume registry", magic, MAGIC));
        }
        int version = b.getInt();
        if (version != VERSION) {
            throw new IOException("volume registry " + file + " has format version " + version
                    + ", but this build reads only version " + VERSION + "; use a Doppel release that knows it");
        }
        int length = b.getInt();
        if (length < 0 || (long) HEADER + length + 4 != data.length) {
            throw damaged(file, "payload length " + length + " does not match the file length " + data.length);
        }
        CRC32C crc = new CRC32C();
        crc.update(data, 0, HEADER + length);
        int stored = ByteBuffer.wrap(data, HEADER + length, 4).getInt();
        if (stored != (int) crc.getValue()) {
            throw damaged(file, String.format("CRC32C mismatch (stored 0x%08x, computed 0x%08x)", stored,
                    (int) crc.getValue()));
        }
        b.limit(HEADER + length);
        try {
            return payload(b, file);
        } catch (BufferUnderflowException e) {
            throw damaged(file, "the payload ends early");
        } catch (IllegalArgumentException e) {
            throw damaged(file, e.getMessage());
        }
    }

    private static Registry payload(ByteBuffer b, Path file) throws IOException {
        int nextId = b.getInt();
        int count = b.getInt();
        if (count < 0 || count > b.remaining()) {
            throw damaged(file, "bad volume count " + count);
        }
        List<Registry.Entry> volumes = new ArrayList<>(count);
        Set<String> names = new HashSet<>();
        Set<Integer> ids = new HashSet<>();
        for (int i = 0; i < count; i++) {
            int id = b.getInt();
            String name = Names.volume(readString(b));
            String group = readString(b);
            long size = Names.size(b.getLong());
            String directory = readString(b);
            Instant created = instant(b);
            long nextOrder = b.getLong();
            int snapCount = b.getInt();
            if (snapCount < 0 || snapCount > b.remaining()) {
                throw damaged(file, "bad snapshot count " + snapCount + " for volume " + name);
            }
            if (id <= 0 || id >= nextId || !ids.add(id) || !names.add(name)) {
                throw damaged(file, "volume " + name + " has a duplicate or out-of-range id " + id
                        + " (next id " + nextId + ") or a duplicate name");
            }
            List<Registry.Snapshot> snaps = new ArrayList<>(snapCount);
            Set<String> snapNames = new HashSet<>();
            long lastOrder = -1;
            for (int s = 0; s < snapCount; s++) {
                String sname = Names.snapshot(readString(b));
                long ssize = Names.size(b.getLong());
                Instant screated = instant(b);
                long order = b.getLong();
                if (order <= lastOrder || order >= nextOrder || !snapNames.add(sname)) {
                    throw damaged(file, "snapshot " + sname + " of volume " + name + " has order " + order
                            + " out of sequence or a duplicate name");
                }
                lastOrder = order;
                snaps.add(new Registry.Snapshot(sname, ssize, screated, order));
            }
            volumes.add(new Registry.Entry(new VolumeInfo(id, name, group, size, directory, created), nextOrder, snaps));
        }
        if (b.hasRemaining()) {
            throw damaged(file, b.remaining() + " bytes follow the last volume");
        }
        return new Registry(nextId, volumes);
    }

    private static Instant instant(ByteBuffer b) {
        long sec = b.getLong();
        int nano = b.getInt();
        if (nano < 0 || nano > 999_999_999) {
            throw new IllegalArgumentException("bad time stamp nanoseconds " + nano);
        }
        return Instant.ofEpochSecond(sec, nano);
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static String readString(ByteBuffer b) {
        int n = b.getInt();
        if (n < 0 || n > MAX_STRING || n > b.remaining()) {
            throw new IllegalArgumentException("bad string length " + n);
        }
        byte[] bytes = new byte[n];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static IOException damaged(Path file, String what) {
        return new IOException("volume registry " + file + " is damaged: " + what
                + "; restore it from a backup (the volumes' data files are untouched)");
    }
}
