package io.doppel.itests.tools;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

/**
 * The self-identifying content of one 4096-byte block written by the {@link OracleWorkload}.
 * <p>
 * Layout (big-endian):
 *
 * <pre>
 *    0  int   magic 0x4F52434C ("ORCL")
 *    4  short format version (1)
 *    6  short volume index within the workload
 *    8  int   volume name hash (CRC32C of the UTF-8 name)
 *   12  long  run id (random per workload run, so stale data of an earlier run is foreign)
 *   20  long  block index within the volume
 *   28  long  write id (unique across all volumes of one workload, from 1)
 *   36  ...   filler, a pure function of (write id, block index)
 * 4092  int   CRC32C of bytes 0..4091
 * </pre>
 *
 * A block is thus enough to tell which write put it there, and whether it arrived whole.
 */
public final class BlockPattern {

    public static final int BLOCK_SIZE = 4096;
    public static final int MAGIC = 0x4F52434C;
    public static final int VERSION = 1;

    private static final int CRC_OFFSET = BLOCK_SIZE - 4;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** What a block's bytes are, before anyone asks whether they belong where they were found. */
    public enum Kind {
        /** All zeros: never written. */
        ZERO,
        /** A whole, well-formed block: {@link Content#header()} says whose. */
        VALID,
        /** Neither zeros nor a well-formed block: a torn, mixed or corrupted block. */
        TORN
    }

    /** The identity a block carries. */
    public record Header(int volumeIndex, int volumeHash, long runId, long block, long writeId) {
    }

    /** A decoded block: its kind, the header for VALID, the reason for TORN. */
    public record Content(Kind kind, Header header, String detail) {
    }

    private BlockPattern() {
    }

    /** The hash of a volume name stored in each block. */
    public static int volumeHash(String volumeName) {
        CRC32C crc = new CRC32C();
        crc.update(volumeName.getBytes(StandardCharsets.UTF_8));
        return (int) crc.getValue();
    }

    /** A new block with the given identity. */
    public static byte[] block(Header header) {
        byte[] block = new byte[BLOCK_SIZE];
        write(header, block, 0);
        return block;
    }

    /** Fills {@code BLOCK_SIZE} bytes of {@code target} at {@code offset} with the block of {@code header}. */
    public static void write(Header header, byte[] target, int offset) {
        ByteBuffer buffer = ByteBuffer.wrap(target, offset, BLOCK_SIZE).slice();
        buffer.putInt(MAGIC)
                .putShort((short) VERSION)
                .putShort((short) header.volumeIndex())
                .putInt(header.volumeHash())
                .putLong(header.runId())
                .putLong(header.block())
                .putLong(header.writeId());
        SplittableRandom filler = filler(header.writeId(), header.block());
        while (buffer.position() < CRC_OFFSET) {
            buffer.putInt(filler.nextInt());
        }
        buffer.putInt(crc(target, offset));
    }

    /** Decodes the block of {@code BLOCK_SIZE} bytes at {@code offset}. */
    public static Content read(byte[] source, int offset) {
        if (isZero(source, offset)) {
            return new Content(Kind.ZERO, null, null);
        }
        ByteBuffer buffer = ByteBuffer.wrap(source, offset, BLOCK_SIZE).slice();
        int magic = buffer.getInt();
        if (magic != MAGIC) {
            return torn("no block header (magic 0x" + Integer.toHexString(magic) + ")");
        }
        int storedCrc = buffer.getInt(CRC_OFFSET);
        int crc = crc(source, offset);
        if (storedCrc != crc) {
            return torn("CRC32C mismatch: stored 0x" + Integer.toHexString(storedCrc) + ", computed 0x"
                    + Integer.toHexString(crc));
        }
        int version = buffer.getShort() & 0xffff;
        if (version != VERSION) {
            return torn("block format version " + version + ", this checker reads version " + VERSION);
        }
        Header header = new Header(buffer.getShort() & 0xffff, buffer.getInt(), buffer.getLong(), buffer.getLong(),
                buffer.getLong());
        // the CRC proves the block is whole; the filler proves it is the block this header makes
        SplittableRandom filler = filler(header.writeId(), header.block());
        while (buffer.position() < CRC_OFFSET) {
            if (buffer.getInt() != filler.nextInt()) {
                return torn("filler does not match write " + header.writeId() + " at byte " + (buffer.position() - 4));
            }
        }
        return new Content(Kind.VALID, header, null);
    }

    private static Content torn(String why) {
        return new Content(Kind.TORN, null, why);
    }

    private static SplittableRandom filler(long writeId, long block) {
        return new SplittableRandom(writeId * GOLDEN ^ Long.rotateLeft(block, 29) ^ 0x5DEECE66DL);
    }

    private static int crc(byte[] block, int offset) {
        CRC32C crc = new CRC32C();
        crc.update(block, offset, CRC_OFFSET);
        return (int) crc.getValue();
    }

    private static boolean isZero(byte[] source, int offset) {
        ByteBuffer buffer = ByteBuffer.wrap(source, offset, BLOCK_SIZE).slice();
        while (buffer.hasRemaining()) {
            if (buffer.getLong() != 0) {
                return false;
            }
        }
        return true;
    }
}
