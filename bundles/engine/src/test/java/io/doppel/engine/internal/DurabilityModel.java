package io.doppel.engine.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * What a volume may hold after a crash, byte by byte. Every completed write is recorded; a
 * write becomes durable when it carried FUA or a flush completed after it. After a crash a
 * byte must hold the value of the last durable write covering it or of a later write
 * covering it (those may or may not have survived); a byte no durable write covers may
 * also still hold its initial value.
 */
final class DurabilityModel {

    private record Write(long offset, byte[] data, long length) {
        /** TRIM and WRITE_ZEROES carry no data: the range reads as zeros. */
        byte at(long pos) {
            return data == null ? 0 : data[(int) (pos - offset)];
        }
    }

    private static final int PAGE = 4096;

    private final long size;
    private final byte[] initial;
    private final List<Write> writes = new ArrayList<>();
    private final List<Boolean> durable = new ArrayList<>();
    /** Per page, indexes of writes that touch it, in order. */
    private final List<List<Integer>> byPage;

    DurabilityModel(long size) {
        this(new byte[(int) size]);
    }

    /** A model starting from a known image (what a previous recovery left). */
    DurabilityModel(byte[] initial) {
        this.size = initial.length;
        this.initial = initial.clone();
        this.byPage = new ArrayList<>();
        for (long p = 0; p < (size + PAGE - 1) / PAGE; p++) {
            byPage.add(new ArrayList<>());
        }
    }

    void completed(long offset, byte[] data, long length, boolean fua) {
        int idx = writes.size();
        writes.add(new Write(offset, data, length));
        durable.add(fua);
        for (long p = offset / PAGE; p <= (offset + length - 1) / PAGE; p++) {
            byPage.get((int) p).add(idx);
        }
    }

    void flushed() {
        for (int i = 0; i < durable.size(); i++) {
            durable.set(i, true);
        }
    }

    int writes() {
        return writes.size();
    }

    /** The newest value every byte must have if nothing was lost (a clean stop). */
    byte[] latestImage() {
        byte[] img = initial.clone();
        for (Write w : writes) {
            for (long b = w.offset; b < w.offset + w.length; b++) {
                img[(int) b] = w.at(b);
            }
        }
        return img;
    }

    /** Null if the image is allowed, else a description of the first byte that is not. */
    String check(byte[] image) {
        for (long b = 0; b < size; b++) {
            List<Integer> touching = byPage.get((int) (b / PAGE));
            int floor = -1;
            for (int k = touching.size() - 1; k >= 0; k--) {
                int i = touching.get(k);
                Write w = writes.get(i);
                if (b >= w.offset && b < w.offset + w.length && durable.get(i)) {
                    floor = i;
                    break;
                }
            }
            byte actual = image[(int) b];
            boolean ok = floor < 0 && actual == initial[(int) b];
            for (int k = 0; k < touching.size() && !ok; k++) {
                int i = touching.get(k);
                Write w = writes.get(i);
                if (i >= floor && b >= w.offset && b < w.offset + w.length && w.at(b) == actual) {
                    ok = true;
                }
            }
            if (!ok) {
                String floorText = floor < 0 ? "none (initial value " + initial[(int) b] + " allowed)"
                        : "write #" + floor + " at " + writes.get(floor).offset + " (+" + writes.get(floor).length
                        + ") value " + writes.get(floor).at(b);
                return "byte " + b + " holds " + actual + "; last durable write covering it: " + floorText;
            }
        }
        return null;
    }
}
