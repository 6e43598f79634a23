package io.doppel.engine.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.zip.CRC32C;

import io.doppel.api.storage.Storage;

/**
 * The engine's small metadata files (site identity, group registry): a 4-byte magic, a
 * format version, the payload length, the payload, and a CRC32C of all of it. Written
 * atomically through {@link Storage#writeAtomically}.
 */
final class MetaFile {

    /** Writes the payload; {@code body} fills it. */
    interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    private MetaFile() {
    }

    static void write(Storage storage, Path path, String magic, int version, Body body) throws IOException {
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        body.write(new DataOutputStream(payload));
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(file);
        out.write(magic.getBytes(StandardCharsets.US_ASCII));
        out.writeShort(version);
        out.writeInt(payload.size());
        payload.writeTo(out);
        CRC32C crc = new CRC32C();
        crc.update(file.toByteArray());
        out.writeInt((int) crc.getValue());
        storage.writeAtomically(path, ByteBuffer.wrap(file.toByteArray()));
    }

    /**
     * Reads and checks a metadata file.
     *
     * @return the payload, positioned after the header
     * @throws IOException naming the file and what is wrong with it
     */
    static DataInputStream read(Storage storage, Path path, String magic, int version) throws IOException {
        return read(storage, path, magic, version, version).in();
    }

    /** A payload and the format version it was written in. */
    record Versioned(int version, DataInputStream in) {
    }

    /** Reads and checks a metadata file of any version from {@code oldest} to {@code newest}. */
    static Versioned read(Storage storage, Path path, String magic, int oldest, int newest) throws IOException {
        byte[] all = storage.readAll(path);
        if (all.length < 14) {
            throw new IOException(path + ": too short (" + all.length + " bytes) to be a Doppel metadata file");
        }
        String m = new String(all, 0, 4, StandardCharsets.US_ASCII);
        if (!m.equals(magic)) {
            throw new IOException(path + ": magic '" + m + "' is not '" + magic + "'");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        int stored = ByteBuffer.wrap(all, all.length - 4, 4).getInt();
        if ((int) crc.getValue() != stored) {
            throw new IOException(path + ": CRC32C mismatch (stored " + Integer.toHexString(stored)
                    + ", computed " + Long.toHexString(crc.getValue()) + ")");
        }
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(all, 4, all.length - 8));
        int v = in.readUnsignedShort();
        if (v < oldest || v > newest) {
            throw new IOException(path + ": format version " + v + " is not supported; this Doppel reads version "
                    + (oldest == newest ? String.valueOf(newest) : oldest + " to " + newest));
        }
        int len = in.readInt();
        if (len != all.length - 14) {
            throw new IOException(path + ": payload length " + len + " does not match the file size");
        }
        return new Versioned(v, in);
    }
}
