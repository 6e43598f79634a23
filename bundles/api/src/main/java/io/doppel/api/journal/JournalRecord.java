package io.doppel.api.journal;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * One record of a group's journal.
 *
 * @param groupId  the group's number
 * @param position epoch and update number
 * @param volumeId the volume's site-wide id (0 for group-wide records such as FLUSH)
 * @param offset   byte offset in the volume (the new size for RESIZE)
 * @param length   bytes covered (the data length for WRITE and MARKER)
 * @param kind     what the record does
 * @param time     wall-clock milliseconds when the primary appended it
 * @param data     the bytes of a WRITE or MARKER, empty otherwise; positioned at its start
 */
public record JournalRecord(int groupId, Position position, int volumeId, long offset, long length,
                            RecordKind kind, long time, ByteBuffer data) {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    public JournalRecord {
        Objects.requireNonNull(position, "position");
        Objects.requireNonNull(kind, "kind");
        data = data == null ? EMPTY : data;
        if (kind == RecordKind.WRITE && data.remaining() != length) {
            throw new IllegalArgumentException("WRITE record of length " + length + " carries " + data.remaining() + " bytes");
        }
    }

    public long seq() {
        return position.seq();
    }

    /** Bytes of the volume this record touches: [offset, offset+length), or none. */
    public boolean touchesBlocks() {
        return kind == RecordKind.WRITE || kind == RecordKind.TRIM || kind == RecordKind.ZERO;
    }
}
