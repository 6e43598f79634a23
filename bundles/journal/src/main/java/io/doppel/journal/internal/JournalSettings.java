package io.doppel.journal.internal;

import io.doppel.api.units.ByteSize;

/**
 * Sizes a journal is built with. The service uses {@link #DEFAULT_MAX_RECORD_BYTES}; tests
 * shrink the largest record so that small segments are valid.
 *
 * @param segmentBytes        size of each preallocated segment file
 * @param capacityBytes       default limit on segment bytes of a journal
 * @param maxRecordBytes      largest data a record may carry
 * @param activityExtents     most extents the activity log holds
 * @param activityExtentBytes bytes per activity-log extent
 */
public record JournalSettings(long segmentBytes, long capacityBytes, int maxRecordBytes, int activityExtents,
                              long activityExtentBytes) {

    public static final int DEFAULT_MAX_RECORD_BYTES = 32 << 20;
    public static final long DEFAULT_SEGMENT_BYTES = 64L << 20;
    public static final long DEFAULT_CAPACITY_BYTES = 1L << 30;
    public static final int DEFAULT_ACTIVITY_EXTENTS = 1024;
    public static final long DEFAULT_ACTIVITY_EXTENT_BYTES = 4L << 20;
    public static final int MAX_ACTIVITY_EXTENTS = 1 << 16;

    public JournalSettings {
        if (maxRecordBytes < 0) {
            throw new IllegalArgumentException("maxRecordBytes must not be negative: " + maxRecordBytes);
        }
        long min = minSegmentBytes(maxRecordBytes);
        if (segmentBytes < min) {
            throw new IllegalArgumentException("segmentBytes = " + segmentBytes + " is too small: a segment must hold the largest record ("
                    + ByteSize.format(maxRecordBytes) + ") plus the segment and record headers, so at least " + min + " bytes");
        }
        checkCapacity(capacityBytes, segmentBytes);
        if (activityExtents < 1 || activityExtents > MAX_ACTIVITY_EXTENTS) {
            throw new IllegalArgumentException("activityLogExtents = " + activityExtents + " must be between 1 and " + MAX_ACTIVITY_EXTENTS);
        }
        if (activityExtentBytes < 4096 || Long.bitCount(activityExtentBytes) != 1 || activityExtentBytes > (1L << 30)) {
            throw new IllegalArgumentException("activityExtentBytes = " + activityExtentBytes + " must be a power of two between 4 KiB and 1 GiB");
        }
    }

    public static JournalSettings defaults() {
        return new JournalSettings(DEFAULT_SEGMENT_BYTES, DEFAULT_CAPACITY_BYTES, DEFAULT_MAX_RECORD_BYTES,
                DEFAULT_ACTIVITY_EXTENTS, DEFAULT_ACTIVITY_EXTENT_BYTES);
    }

    /** The smallest segment that holds a record of {@code maxRecordBytes}. */
    public static long minSegmentBytes(int maxRecordBytes) {
        return SegmentFormat.HEADER_BYTES + RecordFormat.recordBytes(maxRecordBytes);
    }

    /** A journal needs room for the segment being written and the next one. */
    static void checkCapacity(long capacityBytes, long segmentBytes) {
        if (capacityBytes < 2 * segmentBytes) {
            throw new IllegalArgumentException("capacityBytes = " + capacityBytes + " must be at least two segments (2 x segmentBytes = "
                    + 2 * segmentBytes + ")");
        }
    }

    JournalSettings withCapacity(long capacity) {
        return new JournalSettings(segmentBytes, capacity, maxRecordBytes, activityExtents, activityExtentBytes);
    }

    /** Whole segment files the capacity allows. */
    int maxSegments(long capacity) {
        return (int) Math.min(Integer.MAX_VALUE, capacity / segmentBytes);
    }
}
