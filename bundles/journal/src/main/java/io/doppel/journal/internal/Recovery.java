package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.zip.CRC32C;

import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.TailDamage;
import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scans a journal's segments on open. Records must follow each other with seq + 1, rising
 * epochs and intact CRCs; the first one that does not ends the journal. Whatever lies beyond
 * is cut durably (zeroed in its segment, later segments deleted) and, if anything there was
 * a record or the remains of one, reported as {@link TailDamage}.
 */
final class Recovery {

    private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);
    static final String SPARE_PREFIX = "spare-";
    private static final int WINDOW = 4 << 20;
    static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    private final Storage storage;
    private final Path dir;
    private final String group;
    private final int groupId;
    private final JournalMeta meta;
    private final long maxEpoch;
    private final long segmentBytes;
    private final CRC32C crc = new CRC32C();
    private final RecordFormat.Header h = new RecordFormat.Header();
    private final FileWindow window = new FileWindow(WINDOW);

    /** What the scan kept. */
    record Result(List<Segment> segments, Position head, long nextIndex, List<Path> spares, Optional<TailDamage> damage) {
    }

    /** Where and why the scan stopped. */
    private record Stop(Path file, StorageFile handle, long capacity, long offset, String reason, boolean damaged) {
    }

    /** @param segmentBytes the size of a new segment, to know a prepared one when no segment is kept */
    Recovery(Storage storage, Path dir, String group, int groupId, JournalMeta meta, long segmentBytes) {
        this.storage = storage;
        this.segmentBytes = segmentBytes;
        this.dir = dir;
        this.group = group;
        this.groupId = groupId;
        this.meta = meta;
        this.maxEpoch = meta.history().stream().mapToLong(e -> e.epoch()).max().orElse(1);
    }

    Result run() throws IOException {
        TreeMap<Long, Path> files = new TreeMap<>();
        List<Path> spares = new ArrayList<>();
        for (Path p : storage.list(dir)) {
            String name = p.getFileName().toString();
            long idx = Segment.parseIndex(name);
            if (name.endsWith(".tmp")) {
                storage.deleteIfExists(p);
            } else if (idx >= 0) {
                if (idx < meta.oldestSegment()) {
                    // released before the stop; the metadata already moved past it
                    storage.deleteIfExists(p);
                } else {
                    files.put(idx, p);
                }
            } else if (name.startsWith(SPARE_PREFIX) && name.endsWith(Segment.SUFFIX)) {
                spares.add(p);
            }
        }

        List<Segment> kept = new ArrayList<>();
        Position last = meta.retainedStart();
        long expected = last.seq() + 1;
        Stop stop = null;
        try {
            for (long idx = meta.oldestSegment(); ; idx++) {
                Segment prev = kept.isEmpty() ? null : kept.get(kept.size() - 1);
                Path p = files.get(idx);
                if (p == null) {
                    stop = stop != null ? stop : endOf(prev, "end of the journal", false);
                    break;
                }
                StorageFile f = storage.open(p, false);
                window.reset(f);
                ByteBuffer hb = window.get(0, SegmentFormat.HEADER_BYTES);
                SegmentFormat.SegmentHeader sh = hb == null ? null : SegmentFormat.decode(hb.slice(), p.toString());
                if (sh == null || sh.index() != idx || sh.groupId() != groupId) {
                    f.close();
                    // not a live segment (prepared ahead, or recycled): the journal ended where the previous one did
                    stop = stop != null ? stop : endOf(prev, "end of the journal", false);
                    break;
                }
                if (sh.firstSeq() != expected) {
                    String reason = "segment " + p.getFileName() + " starts at seq " + sh.firstSeq() + " where seq " + expected + " was expected";
                    f.close();
                    stop = prev == null ? new Stop(p, null, sh.segmentBytes(), 0, reason, true) : endOf(prev, reason, true);
                    break;
                }
                Segment seg = new Segment(idx, p, f, sh.segmentBytes(), expected);
                kept.add(seg);
                stop = scanRecords(seg, last);
                if (!seg.isEmpty()) {
                    last = seg.lastPosition;
                    expected = last.seq() + 1;
                }
                if (stop.damaged()) {
                    break;
                }
                // A clean end of this segment: the journal goes on only if the next one starts where it ended.
            }
            TailDamage damage = null;
            Stop s = stop;
            if (!meta.cleanShutdown() || s.damaged()) {
                damage = examineBeyond(s, files, kept, last, expected);
            }
            long lastKept = kept.isEmpty() ? meta.oldestSegment() - 1 : kept.get(kept.size() - 1).index;
            for (Map.Entry<Long, Path> e : files.tailMap(lastKept, false).entrySet()) {
                Path p = e.getValue();
                if (damage == null && e.getKey() == lastKept + 1 && sizeOf(p) == sizeHint(kept) && !holdsRecordsAfter(p, last.seq())) {
                    // the segment prepared ahead: keep it for reuse
                    Path spare = dir.resolve(SPARE_PREFIX + p.getFileName().toString().substring(Segment.PREFIX.length()));
                    storage.rename(p, spare);
                    if (!spares.contains(spare)) { // the rename replaced a spare of that name left by an earlier open
                        spares.add(spare);
                    }
                } else {
                    storage.deleteIfExists(p);
                }
            }
            long next = lastKept + 1;
            return new Result(kept, last, next, spares, Optional.ofNullable(damage));
        } catch (IOException | RuntimeException e) {
            for (Segment seg : kept) {
                closeQuietly(seg.file);
            }
            throw e;
        }
    }

    private long sizeHint(List<Segment> kept) {
        return kept.isEmpty() ? segmentBytes : kept.get(kept.size() - 1).capacity;
    }

    /**
     * Whether a file that is not a live segment holds (the remains of) a record with a seq after
     * {@code lastSeq}. A spare must not: once reused, such a record could pass for a new one.
     * Possible only after an unclean stop (a new segment whose header page was lost while
     * later pages of records were kept).
     */
    private boolean holdsRecordsAfter(Path p, long lastSeq) throws IOException {
        if (meta.cleanShutdown()) {
            return false;
        }
        try (StorageFile f = storage.open(p, false)) {
            long size = f.size();
            return countBeyond(f, size, SegmentFormat.HEADER_BYTES, lastSeq, false).furthest > SegmentFormat.HEADER_BYTES;
        }
    }

    private long sizeOf(Path p) {
        try (StorageFile f = storage.open(p, false)) {
            return f.size();
        } catch (IOException e) {
            return -1;
        }
    }

    private static Stop endOf(Segment seg, String reason, boolean damaged) {
        return seg == null ? new Stop(null, null, 0, 0, reason, damaged)
                : new Stop(seg.path, seg.file, seg.capacity, seg.end, reason, damaged);
    }

    /** Reads the records of one segment; returns where they end and whether that is damage. */
    private Stop scanRecords(Segment seg, Position before) throws IOException {
        long size = seg.file.size();
        long off = SegmentFormat.HEADER_BYTES;
        long expected = seg.firstSeq;
        long lastEpoch = before.epoch();
        while (true) {
            if (off + RecordFormat.HEADER_BYTES > seg.capacity) {
                return stop(seg, off, "segment full", false);
            }
            if (off + RecordFormat.HEADER_BYTES > size) {
                if (off < size && !allZero(seg.file, off, (int) (size - off))) {
                    return stop(seg, off, "record header truncated at offset " + off + " (the file ends at " + size + ")", true);
                }
                return stop(seg, off, "end of the file", false);
            }
            ByteBuffer b = window.get(off, RecordFormat.HEADER_BYTES);
            h.parse(b, b.position(), crc);
            if (h.allZero || h.magic != RecordFormat.MAGIC) {
                return stop(seg, off, (h.allZero ? "zeros" : "no record") + " at offset " + off + " where seq " + expected + " was expected", false);
            }
            if (!h.crcOk) {
                return stop(seg, off, "header CRC32C mismatch at offset " + off + " where seq " + expected + " was expected", true);
            }
            if (h.version != RecordFormat.VERSION) {
                throw new UnsupportedVersionException("journal record at offset " + off + " of " + seg.path + " has format version "
                        + h.version + "; this journal bundle reads version " + RecordFormat.VERSION);
            }
            if (h.groupId != groupId) {
                return stop(seg, off, "record at offset " + off + " belongs to group id " + h.groupId + ", not " + groupId, true);
            }
            if (h.seq < expected) {
                // left over from the file's previous use as another segment
                return stop(seg, off, "stale record of seq " + h.seq + " at offset " + off + " where seq " + expected + " was expected", false);
            }
            if (h.seq > expected) {
                return stop(seg, off, "seq " + h.seq + " found at offset " + off + " where seq " + expected + " was expected", true);
            }
            String bad = checkFields(seg.capacity, off);
            if (bad == null && h.epoch < lastEpoch) {
                bad = "epoch went back from " + lastEpoch + " to " + h.epoch + " at seq " + h.seq;
            }
            if (bad == null && h.epoch > maxEpoch) {
                bad = "epoch " + h.epoch + " of seq " + h.seq + " is above the journal's latest epoch " + maxEpoch;
            }
            if (bad != null) {
                return stop(seg, off, bad, true);
            }
            long data = h.dataBytes();
            if (off + RecordFormat.HEADER_BYTES + data > size) {
                return stop(seg, off, "data of seq " + h.seq + " truncated: the file ends at " + size, true);
            }
            if (!dataOk(seg.file, off, data)) {
                return stop(seg, off, "data CRC32C mismatch at seq " + h.seq, true);
            }
            long rec = h.recordBytes();
            seg.added(new Position(h.epoch, h.seq), off, off + rec);
            lastEpoch = h.epoch;
            expected++;
            off += rec;
        }
    }

    private Stop stop(Segment seg, long off, String reason, boolean damaged) {
        seg.end = off;
        return new Stop(seg.path, seg.file, seg.capacity, off, reason, damaged);
    }

    /** Null when the parsed header's kind and size make sense in a segment of {@code capacity}. */
    private String checkFields(long capacity, long off) {
        try {
            RecordKind.ofCode(h.kindCode);
        } catch (IllegalArgumentException e) {
            return "unknown record kind " + h.kindCode + " at seq " + h.seq;
        }
        if (h.length < 0 || h.offset < 0 || off + h.recordBytes() > capacity || h.recordBytes() < 0) {
            return "record of seq " + h.seq + " at offset " + off + " claims " + h.length + " bytes, more than its segment holds";
        }
        return null;
    }

    private boolean dataOk(StorageFile f, long off, long data) throws IOException {
        crc.reset();
        if (data > 0) {
            ByteBuffer d = window.get(off + RecordFormat.HEADER_BYTES, (int) data);
            if (d == null) {
                return false;
            }
            crc.update(d);
        }
        return (int) crc.getValue() == h.dataCrc;
    }

    private boolean allZero(StorageFile f, long off, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        f.read(b, off);
        b.flip();
        while (b.hasRemaining()) {
            if (b.get() != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Looks past the stop for intact records (seq beyond the last good one) and the remains of
     * records; cuts them durably. Returns the damage, or null when the journal simply ended.
     */
    private TailDamage examineBeyond(Stop stop, TreeMap<Long, Path> files, List<Segment> kept, Position last,
                                     long expected) throws IOException {
        int intact = 0;
        long cut = 0;
        long wipeEnd = stop.offset();
        if (stop.file() != null) {
            StorageFile f = stop.handle() != null ? stop.handle() : storage.open(stop.file(), false);
            try {
                Beyond b = countBeyond(f, stop.capacity(), stop.offset(), last.seq(), true);
                intact += b.intact;
                wipeEnd = Math.max(wipeEnd, b.furthest);
                cut += Math.max(0, b.furthest - stop.offset());
            } finally {
                if (stop.handle() == null) {
                    closeQuietly(f);
                }
            }
        }
        long lastKept = kept.isEmpty() ? meta.oldestSegment() - 1 : kept.get(kept.size() - 1).index;
        for (Map.Entry<Long, Path> e : files.tailMap(lastKept, false).entrySet()) {
            Path p = e.getValue();
            if (p.equals(stop.file())) {
                continue;
            }
            try (StorageFile f = storage.open(p, false)) {
                window.reset(f);
                ByteBuffer hb = window.get(0, SegmentFormat.HEADER_BYTES);
                SegmentFormat.SegmentHeader sh = hb == null ? null : SegmentFormat.decode(hb.slice(), p.toString());
                if (sh == null || sh.index() != e.getKey() || sh.groupId() != groupId) {
                    continue;
                }
                Beyond b = countBeyond(f, sh.segmentBytes(), SegmentFormat.HEADER_BYTES, last.seq(), false);
                intact += b.intact;
                cut += Math.max(0, b.furthest - SegmentFormat.HEADER_BYTES);
            }
        }
        boolean damaged = stop.damaged() || intact > 0;
        if (stop.handle() != null && (damaged || wipeEnd > stop.offset())) {
            // Zero what lies past the end, so that nothing there can pass for a record once new
            // records with the same seqs are written; after damage, the whole rest of the segment.
            zero(stop.handle(), stop.offset(), damaged ? stop.capacity() : wipeEnd);
        }
        if (!damaged) {
            return null;
        }
        String reason = stop.reason();
        if (!stop.damaged() && !reason.contains("expected")) {
            reason = "seq " + expected + " is missing (" + reason + ")";
        }
        TailDamage d = new TailDamage(stop.file() == null ? "-" : stop.file().getFileName().toString(), stop.offset(), reason,
                last, cut, intact);
        LOG.warn("Journal of group {}: cut a damaged tail in {} at offset {}: {}; kept records through {}, cut {} bytes, dropped {} "
                + "intact-looking records beyond the damage", group, d.segment(), d.fileOffset(), reason, last, cut, intact);
        return d;
    }

    private static final class Beyond {
        int intact;
        long furthest;
    }

    /**
     * Steps through [{@code from}, {@code capacity}) in 8-byte steps looking for records of
     * this group with a seq above {@code lastSeq}.
     */
    private Beyond countBeyond(StorageFile f, long capacity, long from, long lastSeq, boolean first) throws IOException {
        Beyond out = new Beyond();
        out.furthest = from;
        window.reset(f);
        long size = Math.min(f.size(), capacity);
        if (first && from < size) {
            // whatever partial bytes of the record at the stop exist are part of the cut
            long tail = Math.min(size, from + RecordFormat.HEADER_BYTES);
            if (!allZero(f, from, (int) (tail - from))) {
                out.furthest = tail;
            }
        }
        long off = from;
        while (off + RecordFormat.HEADER_BYTES <= size) {
            ByteBuffer b = window.get(off, RecordFormat.HEADER_BYTES);
            if (b == null || b.getInt(b.position()) != RecordFormat.MAGIC) {
                off += RecordFormat.ALIGN;
                continue;
            }
            h.parse(b, b.position(), crc);
            if (!h.crcOk || h.groupId != groupId || h.seq <= lastSeq || checkFields(capacity, off) != null) {
                off += RecordFormat.ALIGN;
                continue;
            }
            long rec = h.recordBytes();
            long avail = Math.min(rec, size - off);
            out.furthest = Math.max(out.furthest, off + avail);
            if (off + RecordFormat.HEADER_BYTES + h.dataBytes() <= size && dataOk(f, off, h.dataBytes())) {
                out.intact++;
                off += rec;
            } else {
                off += RecordFormat.ALIGN;
            }
        }
        return out;
    }

    private static void zero(StorageFile f, long from, long to) throws IOException {
        long off = from;
        while (off < to) {
            int n = (int) Math.min(ZEROS.capacity(), to - off);
            ByteBuffer z = ZEROS.duplicate();
            z.limit(n);
            f.write(z, off);
            off += n;
        }
        f.force();
    }

    static void zeroFill(StorageFile f, long from, long to) throws IOException {
        zero(f, from, to);
    }

    private static void closeQuietly(StorageFile f) {
        try {
            f.close();
        } catch (IOException e) {
            LOG.debug("Closing {} failed", f, e);
        }
    }
}
