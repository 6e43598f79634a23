package io.doppel.journal.internal;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;

import io.doppel.api.journal.Position;
import io.doppel.api.storage.StorageFile;

/**
 * One segment file in use. Appends (under the journal's append lock) move its end; readers
 * find where to start through a sparse index of every {@value #INDEX_EVERY}th record.
 */
final class Segment {

    static final int INDEX_EVERY = 32;
    static final String PREFIX = "segment-";
    static final String SUFFIX = ".seg";

    final long index;
    final Path path;
    final StorageFile file;
    final long capacity;
    final long firstSeq;

    /** End of the last record written. */
    volatile long end = SegmentFormat.HEADER_BYTES;
    /** Seq of the last record, or firstSeq - 1 while empty. */
    volatile long lastSeq;
    volatile Position firstPosition;
    volatile Position lastPosition;
    volatile boolean released;

    private long[] indexOffsets = new long[16];
    private long[] indexEpochs = new long[16];
    private int indexed;

    Segment(long index, Path path, StorageFile file, long capacity, long firstSeq) {
        this.index = index;
        this.path = path;
        this.file = file;
        this.capacity = capacity;
        this.firstSeq = firstSeq;
        this.lastSeq = firstSeq - 1;
    }

    static String fileName(long index) {
        return PREFIX + HexFormat.of().toHexDigits(index) + SUFFIX;
    }

    /** The index in a segment file's name, or -1 when the name is not a segment's. */
    static long parseIndex(String name) {
        if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX) || name.length() != PREFIX.length() + 16 + SUFFIX.length()) {
            return -1;
        }
        try {
            return HexFormat.fromHexDigitsToLong(name, PREFIX.length(), PREFIX.length() + 16);
        } catch (IllegalArgumentException e) {
            return -1;
        }
    }

    boolean isEmpty() {
        return lastPosition == null;
    }

    long records() {
        return lastSeq - firstSeq + 1;
    }

    long room() {
        return capacity - end;
    }

    /** Called for each record in seq order, by the appender or by recovery. */
    void added(Position position, long offset, long recordEnd) {
        long n = position.seq() - firstSeq;
        if (n % INDEX_EVERY == 0) {
            synchronized (this) {
                int i = (int) (n / INDEX_EVERY);
                if (i == indexed) {
                    if (i == indexOffsets.length) {
                        indexOffsets = Arrays.copyOf(indexOffsets, i * 2);
                        indexEpochs = Arrays.copyOf(indexEpochs, i * 2);
                    }
                    indexOffsets[i] = offset;
                    indexEpochs[i] = position.epoch();
                    indexed++;
                }
            }
        }
        if (firstPosition == null) {
            firstPosition = position;
        }
        end = recordEnd;
        lastPosition = position;
        lastSeq = position.seq();
    }

    /**
     * Where to start reading to find the first record after {@code after}: the offset and seq
     * of an indexed record at or before it (callers skip the few records up to it).
     */
    synchronized long[] startFor(Position after) {
        int lo = 0;
        int hi = indexed - 1;
        int best = 0;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            Position p = new Position(indexEpochs[mid], firstSeq + (long) mid * INDEX_EVERY);
            if (p.compareTo(after) <= 0) {
                best = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (indexed == 0) {
            return new long[] {SegmentFormat.HEADER_BYTES, firstSeq};
        }
        return new long[] {indexOffsets[best], firstSeq + (long) best * INDEX_EVERY};
    }

    @Override
    public String toString() {
        return path.getFileName().toString();
    }
}
