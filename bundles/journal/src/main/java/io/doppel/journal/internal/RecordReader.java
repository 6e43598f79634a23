package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;

/** Reads records in seq order from the segment files, checking every CRC. */
final class RecordReader implements JournalReader {
    private final FileJournal journal;
    private final Position after;
    private final Position upTo;
    private final long endSeq;
    private final long rebases;
    private final FileWindow window = new FileWindow(256 << 10);
    private final RecordFormat.Header h = new RecordFormat.Header();
    private final CRC32C crc = new CRC32C();
    private Segment seg;
    private long off;
    private long nextSeq;
    private boolean started;
    private boolean done;

    /** @param rebases the journal's rebase count when the reader was opened; after a rebase it reads nothing more */
    RecordReader(FileJournal journal, Position after, Position upTo, long endSeq, long rebases) {
        this.journal = journal;
        this.after = after;
        this.upTo = upTo;
        this.endSeq = endSeq;
        this.rebases = rebases;
        this.done = !after.isBefore(upTo);
    }

    private void start() throws IOException {
        started = true;
        for (Segment s : journal.segments.values()) {
            Position last = s.lastPosition;
            if (last != null && last.isAfter(after)) {
                long[] at = s.startFor(after);
                enter(s, at[0], at[1]);
                return;
            }
        }
        done = true;
    }

    private void enter(Segment s, long offset, long seq) throws IOException {
        if (s.released) {
            throw new JournalGapException(after, journal.retainedStart());
        }
        seg = s;
        off = offset;
        nextSeq = seq;
        window.reset(s.file);
    }

    @Override
    public JournalRecord next() throws IOException {
        if (!started && !done) {
            start();
        }
        while (!done) {
            if (journal.rebases() != rebases) {
                // the records it was opened for were dropped; seqs after the new head are other records
                throw new JournalGapException(after, journal.retainedStart());
            }
            if (nextSeq > endSeq) {
                done = true;
                break;
            }
            if (nextSeq > seg.lastSeq) {
                Segment s = journal.segments.get(nextSeq);
                if (s == null) {
                    throw new JournalGapException(after, journal.retainedStart());
                }
                enter(s, SegmentFormat.HEADER_BYTES, nextSeq);
            }
            JournalRecord r;
            try {
                r = readOne();
            } catch (IOException e) {
                if (seg.released) {
                    throw new JournalGapException(after, journal.retainedStart());
                }
                throw e;
            }
            Position p = r.position();
            if (!p.isAfter(after)) {
                continue;
            }
            if (p.isAfter(upTo)) {
                done = true;
                break;
            }
            return r;
        }
        return null;
    }

    private JournalRecord readOne() throws IOException {
        ByteBuffer b = window.get(off, RecordFormat.HEADER_BYTES);
        if (b == null) {
            throw corrupt("the segment ends");
        }
        h.parse(b, b.position(), crc);
        if (h.magic != RecordFormat.MAGIC || !h.crcOk) {
            throw corrupt("header CRC32C mismatch");
        }
        if (h.seq != nextSeq || h.groupId != journal.groupId()) {
            throw corrupt("found seq " + h.seq + " of group id " + h.groupId);
        }
        RecordKind kind = RecordKind.ofCode(h.kindCode);
        long dataBytes = h.dataBytes();
        ByteBuffer data = null;
        if (dataBytes > 0) {
            ByteBuffer d = window.get(off + RecordFormat.HEADER_BYTES, (int) dataBytes);
            if (d == null) {
                throw corrupt("data truncated");
            }
            data = ByteBuffer.allocate((int) dataBytes);
            data.put(d).flip();
        }
        if (RecordFormat.dataCrc(crc, data) != h.dataCrc) {
            throw corrupt("data CRC32C mismatch");
        }
        Position p = new Position(h.epoch, h.seq);
        off += h.recordBytes();
        nextSeq++;
        return new JournalRecord(h.groupId, p, h.volumeId, h.offset, h.length, kind, h.time, data);
    }

    private IOException corrupt(String what) {
        return new IOException("journal of group " + journal.group() + ": record seq " + nextSeq + " at offset " + off + " of " + seg.path
                + " fails its check: " + what);
    }

    @Override
    public void close() {
        done = true;
    }
}
