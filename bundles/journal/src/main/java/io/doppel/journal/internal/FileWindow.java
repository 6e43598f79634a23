package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;

import io.doppel.api.storage.StorageFile;

/** Reads a file through a window of a few MiB, so that scanning small records is not a syscall each. */
final class FileWindow {

    private final ByteBuffer window;
    private StorageFile file;
    private long start = -1;
    private int length;

    FileWindow(int bytes) {
        window = ByteBuffer.allocate(bytes);
    }

    void reset(StorageFile f) {
        file = f;
        start = -1;
        length = 0;
    }

    /**
     * The bytes [{@code offset}, {@code offset}+{@code n}) as a buffer positioned at their
     * start, limited to their end; null when the file ends before. The buffer is valid until
     * the next call.
     */
    ByteBuffer get(long offset, int n) throws IOException {
        if (start >= 0 && offset >= start && offset + n <= start + length) {
            int at = (int) (offset - start);
            return window.limit(at + n).position(at);
        }
        if (n > window.capacity()) {
            ByteBuffer big = ByteBuffer.allocate(n);
            int r = file.read(big, offset);
            return r < n ? null : big.flip();
        }
        window.clear();
        int r = file.read(window, offset);
        start = offset;
        length = Math.max(r, 0);
        if (length < n) {
            return null;
        }
        return window.limit(n).position(0);
    }
}
