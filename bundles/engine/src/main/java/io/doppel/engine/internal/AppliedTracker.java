package io.doppel.engine.internal;

import java.util.TreeMap;

import io.doppel.api.journal.Position;

/**
 * Knows up to which position every journaled record has reached the volumes. Records are
 * applied out of order (different blocks, different threads); the watermark is the highest
 * position such that every seq up to it completed. A seq that was assigned but has not
 * completed (in flight, or its volume write failed) holds the watermark back, so a
 * checkpoint never claims a record whose volume write may still be missing.
 */
final class AppliedTracker {

    private Position watermark;
    private final TreeMap<Long, Position> ahead = new TreeMap<>();

    AppliedTracker(Position start) {
        this.watermark = start;
    }

    synchronized void complete(Position p) {
        long next = watermark.seq() + 1;
        if (p.seq() < next) {
            return; // already counted (a redo or retry of an applied record)
        }
        if (p.seq() != next) {
            ahead.put(p.seq(), p);
            return;
        }
        watermark = p;
        while (!ahead.isEmpty() && ahead.firstKey() == watermark.seq() + 1) {
            watermark = ahead.pollFirstEntry().getValue();
        }
    }

    synchronized Position watermark() {
        return watermark;
    }

    /** Records completed beyond a gap. */
    synchronized int pendingAhead() {
        return ahead.size();
    }
}
