package io.doppel.bitmap.internal;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.zip.CRC32C;

import io.doppel.api.journal.Position;

import org.roaringbitmap.RoaringBitmap;

/**
 * The file of one pair's difference map, {@code <pairId>.map}, always written whole with
 * {@code Storage.writeAtomically}. Big-endian, except the bitmaps, which are RoaringBitmap's
 * portable serialization (little-endian by that format's definition):
 *
 * <pre>
 * int magic "DDMP", short version, short 0,
 * long covered epoch, long covered seq,
 * int volumes, each in ascending id order: int volume id, int n, n bytes of portable bitmap,
 * int CRC32C of everything before it
 * </pre>
 */
final class MapFile {

    static final int MAGIC = 0x44444D50;
    static final int VERSION = 1;
    /** Magic, version, reserved, position, volume count. */
    static final int HEADER_BYTES = 4 + 2 + 2 + 8 + 8 + 4;
    static final int CRC_BYTES = 4;

    /** What a file holds. */
    record Content(Position covered, SortedMap<Integer, RoaringBitmap> volumes) {
    }

    private MapFile() {
    }

    /** Encodes the bitmaps, which the caller hands over (they are run-optimised in place). */
    static ByteBuffer encode(Position covered, SortedMap<Integer, RoaringBitmap> volumes) throws IOException {
        long size = HEADER_BYTES + CRC_BYTES;
        for (RoaringBitmap b : volumes.values()) {
            b.runOptimize();
            size += 4 + 4 + b.serializedSizeInBytes();
        }
        if (size > Integer.MAX_VALUE - 8) {
            throw new IOException("difference map too large to write: " + size + " bytes");
        }
        ByteBuffer out = ByteBuffer.allocate((int) size);
        out.putInt(MAGIC).putShort((short) VERSION).putShort((short) 0);
        out.putLong(covered.epoch()).putLong(covered.seq());
        out.putInt(volumes.size());
        for (Map.Entry<Integer, RoaringBitmap> e : volumes.entrySet()) {
            int n = e.getValue().serializedSizeInBytes();
            out.putInt(e.getKey()).putInt(n);
            ByteBuffer slice = out.slice(out.position(), n).order(ByteOrder.LITTLE_ENDIAN);
            e.getValue().serialize(slice);
            if (slice.position() != n) {
                throw new IllegalStateException("bitmap of volume " + e.getKey() + " serialized to " + slice.position()
                        + " bytes, expected " + n);
            }
            out.position(out.position() + n);
        }
        CRC32C crc = new CRC32C();
        crc.update(out.array(), 0, out.position());
        out.putInt((int) crc.getValue());
        return out.flip();
    }

    /** Decodes a whole file; anything but a complete, intact file of this version is an IOException naming it. */
    static Content decode(byte[] bytes, Path file) throws IOException {
        if (bytes.length < 8) {
            throw corrupt(file, "truncated: " + bytes.length + " bytes, shorter than the header");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes);
        int magic = in.getInt();
        if (magic != MAGIC) {
            throw corrupt(file, String.format("not a difference map (magic 0x%08x, expected 0x%08x)", magic, MAGIC));
        }
        int version = Short.toUnsignedInt(in.getShort());
        if (version != VERSION) {
            // Checked before the CRC: another version may lay out even its checksum differently.
            throw new IOException("difference map " + file + " has format version " + version + "; this bundle reads version "
                    + VERSION);
        }
        if (bytes.length < HEADER_BYTES + CRC_BYTES) {
            throw corrupt(file, "truncated: " + bytes.length + " bytes, shorter than the header and checksum");
        }
        int end = bytes.length - CRC_BYTES;
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, end);
        int stored = ByteBuffer.wrap(bytes, end, CRC_BYTES).getInt();
        if (stored != (int) crc.getValue()) {
            throw corrupt(file, String.format("CRC32C mismatch (stored 0x%08x, computed 0x%08x): the file is corrupt or truncated",
                    stored, (int) crc.getValue()));
        }
        try {
            in.getShort();
            Position covered = new Position(in.getLong(), in.getLong());
            int count = in.getInt();
            if (count < 0) {
                throw corrupt(file, "negative volume count " + count);
            }
            SortedMap<Integer, RoaringBitmap> volumes = new TreeMap<>();
            in.limit(end);
            for (int i = 0; i < count; i++) {
                int id = in.getInt();
                int n = in.getInt();
                if (n < 0 || n > in.remaining()) {
                    throw corrupt(file, "bitmap of volume " + id + " claims " + n + " bytes, " + in.remaining() + " remain");
                }
                if (!volumes.isEmpty() && id <= volumes.lastKey()) {
                    throw corrupt(file, "volume " + id + " out of order or repeated");
                }
                ByteBuffer slice = in.slice(in.position(), n).order(ByteOrder.LITTLE_ENDIAN);
                RoaringBitmap b = new RoaringBitmap();
                try {
                    b.deserialize(slice);
                } catch (IOException | RuntimeException e) {
                    // RoaringBitmap reports malformed input with its own exceptions.
                    throw (IOException) corrupt(file, "bitmap of volume " + id + " does not parse: " + e).initCause(e);
                }
                // deserialize(ByteBuffer) leaves the position alone: the size tells whether it used all n bytes.
                if (b.serializedSizeInBytes() != n || !Boolean.TRUE.equals(b.validate())) {
                    throw corrupt(file, "bitmap of volume " + id + " is malformed");
                }
                in.position(in.position() + n);
                volumes.put(id, b);
            }
            if (in.hasRemaining()) {
                throw corrupt(file, in.remaining() + " unexpected bytes after the last volume");
            }
            return new Content(covered, volumes);
        } catch (BufferUnderflowException | IllegalArgumentException | IndexOutOfBoundsException e) {
            // Reached only if the checksum matched content that does not parse (a negative position, a short count).
            throw (IOException) corrupt(file, e.toString()).initCause(e);
        }
    }

    private static IOException corrupt(Path file, String why) {
        return new IOException("difference map " + file + " is corrupt: " + why);
    }
}
