package io.doppel.journal.internal;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The 64-byte header at the start of every segment file; records follow it.
 *
 * <pre>
 *  0 int   magic "DJSG"        24 long  first seq
 *  4 short format version       32 long  segment size (bytes)
 *  6 short 0                    40 long  time created (ms)
 *  8 int   group id             48..59  zeros
 * 12 int   record header bytes  60 int   CRC32C of bytes 0..59
 * 16 long  segment index
 * </pre>
 *
 * A recycled segment keeps its old header until the new one is written, so a header whose
 * index differs from the file name's marks a file that holds no live records.
 */
final class SegmentFormat {

    static final int MAGIC = 0x444A5347;
    static final int VERSION = 1;
    static final int HEADER_BYTES = 64;

    private SegmentFormat() {
    }

    record SegmentHeader(int groupId, long index, long firstSeq, long segmentBytes, long created) {
    }

    static ByteBuffer encode(SegmentHeader h) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES);
        b.putInt(0, MAGIC);
        b.putShort(4, (short) VERSION);
        b.putInt(8, h.groupId());
        b.putInt(12, RecordFormat.HEADER_BYTES);
        b.putLong(16, h.index());
        b.putLong(24, h.firstSeq());
        b.putLong(32, h.segmentBytes());
        b.putLong(40, h.created());
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, 60);
        b.putInt(60, (int) crc.getValue());
        return b;
    }

    /**
     * @return the header, or null when the bytes are not a valid segment header (zeros, torn)
     * @throws UnsupportedVersionException for a valid header of another format version
     */
    static SegmentHeader decode(ByteBuffer b, String where) throws UnsupportedVersionException {
        if (b.remaining() < HEADER_BYTES || b.getInt(0) != MAGIC) {
            return null;
        }
        CRC32C crc = new CRC32C();
        ByteBuffer d = b.duplicate();
        d.position(0).limit(60);
        crc.update(d);
        if ((int) crc.getValue() != b.getInt(60)) {
            return null;
        }
        int version = b.getShort(4) & 0xFFFF;
        if (version != VERSION) {
            throw new UnsupportedVersionException("journal segment " + where + " has format version " + version
                    + "; this journal bundle reads version " + VERSION);
        }
        return new SegmentHeader(b.getInt(8), b.getLong(16), b.getLong(24), b.getLong(32), b.getLong(40));
    }
}
