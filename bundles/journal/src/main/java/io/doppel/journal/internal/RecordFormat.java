package io.doppel.journal.internal;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The journal record: a fixed 64-byte header, then the data of a WRITE or MARKER, padded to
 * 8 bytes. All numbers are big-endian.
 *
 * <pre>
 *  0 int   magic "DJRC"        32 long  offset
 *  4 short format version       40 long  length
 *  6 byte  kind code            48 long  time (ms since the epoch)
 *  7 byte  flags (0)            56 int   CRC32C of the data
 *  8 int   group id             60 int   CRC32C of bytes 0..59
 * 12 int   volume id
 * 16 long  epoch
 * 24 long  seq
 * </pre>
 */
final class RecordFormat {

    static final int MAGIC = 0x444A5243;
    static final int VERSION = 1;
    static final int HEADER_BYTES = 64;
    static final int ALIGN = 8;

    static final int OFF_VERSION = 4;
    static final int OFF_KIND = 6;
    static final int OFF_GROUP = 8;
    static final int OFF_VOLUME = 12;
    static final int OFF_EPOCH = 16;
    static final int OFF_SEQ = 24;
    static final int OFF_OFFSET = 32;
    static final int OFF_LENGTH = 40;
    static final int OFF_TIME = 48;
    static final int OFF_DATA_CRC = 56;
    static final int OFF_HEADER_CRC = 60;

    private RecordFormat() {
    }

    static long align(long n) {
        return (n + ALIGN - 1) & -ALIGN;
    }

    /** Bytes a record with {@code dataBytes} of data takes in a segment, padding included. */
    static long recordBytes(long dataBytes) {
        return align(HEADER_BYTES + dataBytes);
    }

    /**
     * Writes a header into {@code h} at indices 0..63, leaving its position 0 and limit 64.
     * {@code crc} is reset and used for the header checksum.
     */
    static void encode(ByteBuffer h, CRC32C crc, int kindCode, int groupId, int volumeId, long epoch, long seq,
                       long offset, long length, long time, int dataCrc) {
        h.clear();
        h.putInt(0, MAGIC);
        h.putShort(OFF_VERSION, (short) VERSION);
        h.put(OFF_KIND, (byte) kindCode);
        h.put(OFF_KIND + 1, (byte) 0);
        h.putInt(OFF_GROUP, groupId);
        h.putInt(OFF_VOLUME, volumeId);
        h.putLong(OFF_EPOCH, epoch);
        h.putLong(OFF_SEQ, seq);
        h.putLong(OFF_OFFSET, offset);
        h.putLong(OFF_LENGTH, length);
        h.putLong(OFF_TIME, time);
        h.putInt(OFF_DATA_CRC, dataCrc);
        h.limit(OFF_HEADER_CRC);
        crc.reset();
        crc.update(h);
        h.limit(HEADER_BYTES);
        h.putInt(OFF_HEADER_CRC, (int) crc.getValue());
        h.position(0);
    }

    /** CRC32C of {@code data}'s remaining bytes; the buffer's position is left unchanged. */
    static int dataCrc(CRC32C crc, ByteBuffer data) {
        crc.reset();
        if (data != null && data.hasRemaining()) {
            int p = data.position();
            crc.update(data);
            data.position(p);
        }
        return (int) crc.getValue();
    }

    /** What a header in a buffer says; {@link #check} tells whether it can be trusted. */
    static final class Header {
        int magic;
        int version;
        int kindCode;
        int groupId;
        int volumeId;
        long epoch;
        long seq;
        long offset;
        long length;
        long time;
        int dataCrc;
        boolean crcOk;
        boolean allZero;

        /** Reads the 64 bytes at {@code at} of {@code b} (absolute, the buffer is not moved). */
        Header parse(ByteBuffer b, int at, CRC32C crc) {
            magic = b.getInt(at);
            version = b.getShort(at + OFF_VERSION) & 0xFFFF;
            kindCode = b.get(at + OFF_KIND) & 0xFF;
            groupId = b.getInt(at + OFF_GROUP);
            volumeId = b.getInt(at + OFF_VOLUME);
            epoch = b.getLong(at + OFF_EPOCH);
            seq = b.getLong(at + OFF_SEQ);
            offset = b.getLong(at + OFF_OFFSET);
            length = b.getLong(at + OFF_LENGTH);
            time = b.getLong(at + OFF_TIME);
            dataCrc = b.getInt(at + OFF_DATA_CRC);
            ByteBuffer d = b.duplicate();
            d.limit(at + OFF_HEADER_CRC).position(at);
            crc.reset();
            crc.update(d);
            crcOk = (int) crc.getValue() == b.getInt(at + OFF_HEADER_CRC);
            allZero = true;
            for (int i = 0; i < HEADER_BYTES; i += 8) {
                if (b.getLong(at + i) != 0) {
                    allZero = false;
                    break;
                }
            }
            return this;
        }

        /** Bytes of data that follow the header (0 for kinds without data). */
        long dataBytes() {
            return kindCode == 1 || kindCode == 5 ? length : 0;
        }

        long recordBytes() {
            return RecordFormat.recordBytes(dataBytes());
        }
    }
}
