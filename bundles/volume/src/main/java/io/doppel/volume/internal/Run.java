package io.doppel.volume.internal;

import java.util.ArrayList;
import java.util.List;

import org.roaringbitmap.PeekableIntIterator;
import org.roaringbitmap.RoaringBitmap;

/** A run of consecutive blocks. */
record Run(long start, long count) {

    long end() {
        return start + count;
    }

    /** Builds runs from increasing block numbers, appending to the last run where it continues. */
    static final class Builder {
        private final List<Run> runs = new ArrayList<>();
        private long start = -1;
        private long count;

        void add(long block) {
            if (count > 0 && block == start + count) {
                count++;
                return;
            }
            flush();
            start = block;
            count = 1;
        }

        private void flush() {
            if (count > 0) {
                runs.add(new Run(start, count));
            }
            count = 0;
        }

        List<Run> build() {
            flush();
            return runs;
        }
    }

    /** The runs of a bitmap (block numbers are unsigned ints), restricted to blocks below {@code limit}. */
    static List<Run> of(RoaringBitmap bitmap, long limit) {
        Builder b = new Builder();
        PeekableIntIterator it = bitmap.getIntIterator();
        while (it.hasNext()) {
            long block = Integer.toUnsignedLong(it.next());
            if (block >= limit) {
                break;
            }
            b.add(block);
        }
        return b.build();
    }
}
