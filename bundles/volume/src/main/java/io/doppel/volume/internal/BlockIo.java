package io.doppel.volume.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

import io.doppel.api.storage.StorageFile;

/** Small helpers for positional block I/O. */
final class BlockIo {

    /** Largest piece read or written at once when copying or zeroing. */
    static final int CHUNK = 1 << 20;

    private static final byte[] ZERO_ARRAY = new byte[CHUNK];
    private static final ByteBuffer ZEROS = ByteBuffer.wrap(new byte[CHUNK]).asReadOnlyBuffer();

    private BlockIo() {
    }

    /** Fills {@code dst}; what lies past the end of the file reads as zeros (a sparse tail). */
    static void readFully(StorageFile file, ByteBuffer dst, long position) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int n = file.read(dst, pos);
            if (n < 0) {
                while (dst.hasRemaining()) {
                    int k = Math.min(dst.remaining(), CHUNK);
                    dst.put(ZERO_ARRAY, 0, k);
                }
                return;
            }
            pos += n;
        }
    }

    /** Writes {@code length} (at most {@link #CHUNK}) zero bytes. */
    static void writeZeros(StorageFile file, long position, int length) throws IOException {
        ByteBuffer z = ZEROS.duplicate();
        z.limit(length);
        file.write(z, position);
    }

    static boolean isZero(byte[] a, int from, int length) {
        int off = from;
        int left = length;
        while (left > 0) {
            int n = Math.min(left, CHUNK);
            if (Arrays.mismatch(a, off, off + n, ZERO_ARRAY, 0, n) >= 0) {
                return false;
            }
            off += n;
            left -= n;
        }
        return true;
    }
}
