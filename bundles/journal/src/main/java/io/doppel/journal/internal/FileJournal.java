package io.doppel.journal.internal;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.ActivityLog;
import io.doppel.api.journal.CursorStatus;
import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalFullException;
import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.journal.OverflowHandler;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.ReclaimHandler;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.RecoveryReport;
import io.doppel.api.journal.TailDamage;
import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;
import io.doppel.api.units.ByteSize;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A group's journal in {@code <root>/<group>/}: preallocated segment files of records, a
 * metadata file and the activity log.
 *
 * <p>Locks, in the order they may nest: {@code reclaimLock} (one appender at a time frees
 * space), {@code appendLock} (seq assignment and the file write), {@code metaLock}
 * (checkpoint, cursors, history and the metadata file), {@code prepLock} (the segment
 * prepared ahead and spare files). {@code forceLock} only guards the group-commit handoff and
 * is never held during I/O.
 */
public final class FileJournal implements Journal {

    private static final Logger LOG = LoggerFactory.getLogger(FileJournal.class);
    static final String META = "journal.meta";
    /** Site id of the epochs a journal learns from replicated records or a rebase (records carry no site id). */
    static final String REPLICATED_SITE = "replicated";
    private static final ThreadLocal<CRC32C> DATA_CRC = ThreadLocal.withInitial(CRC32C::new);

    private final Storage storage;
    private final Path dir;
    private final Path metaPath;
    private final String group;
    private final int groupId;
    private final JournalSettings settings;
    private final long capacityBytes;
    private final int maxSegments;
    private final Executor executor;
    private final Consumer<FileJournal> onClose;
    private final RecoveryReport recovery;
    private final ActivityLogImpl activityLog;

    /** Retained segments by first seq. */
    final ConcurrentSkipListMap<Long, Segment> segments = new ConcurrentSkipListMap<>();

    private final ReentrantLock appendLock = new ReentrantLock();
    // guarded by appendLock
    private final ByteBuffer header = ByteBuffer.allocateDirect(RecordFormat.HEADER_BYTES);
    private final ByteBuffer padding = ByteBuffer.allocateDirect(RecordFormat.ALIGN);
    private final ByteBuffer[] gather2 = new ByteBuffer[2];
    private final ByteBuffer[] gather3 = new ByteBuffer[3];
    private final ByteBuffer[] single = new ByteBuffer[1];
    private final CRC32C headerCrc = new CRC32C();
    private Segment firstUnforced;
    /** Index of the next segment to start; advanced under prepLock when the prepared one is taken. */
    private volatile long nextIndex;
    private volatile Segment current;
    private volatile long epoch;
    private volatile Position head;
    private volatile boolean closed;
    /** Counts rebases; readers and force waiters that began before one stop at it. Changed under appendLock and forceLock. */
    private volatile long rebases;

    private final ReentrantLock forceLock = new ReentrantLock();
    private final Condition forceDone = forceLock.newCondition();
    // guarded by forceLock
    private boolean forcing;
    private volatile Position durable;
    private volatile IOException failed;
    private volatile boolean shut;
    private final AtomicLong forces = new AtomicLong();
    private final AtomicLong forcedRecords = new AtomicLong();
    private final AtomicLong recycled = new AtomicLong();

    private final Object prepLock = new Object();
    // guarded by prepLock
    private final ArrayDeque<Spare> spares = new ArrayDeque<>();
    private Prepared ready;
    private CompletableFuture<Void> preparing;
    private IOException prepareFailure;
    /** Released segment files not yet renamed to spares or deleted; they still count against the capacity. */
    private int removing;
    private volatile boolean stopPreparing;

    private final Object metaLock = new Object();
    private volatile Position checkpoint;
    private volatile Position retainedStart;
    // guarded by metaLock
    private long oldestSegment;
    private volatile List<EpochEntry> history;
    private final ConcurrentHashMap<String, CursorState> cursors = new ConcurrentHashMap<>();

    private final ReentrantLock reclaimLock = new ReentrantLock();
    private volatile ReclaimHandler reclaimHandler;
    /** The background pass that makes room before appends find the journal full; guarded by prepLock. */
    private CompletableFuture<Void> makingRoom;
    /** Set when a roll left a quarter of the capacity or less; the append then starts {@link #makeRoomAhead}. */
    private volatile boolean roomLow;

    /**
     * A segment file ready to become the next segment.
     *
     * @param maxSeq the highest seq a record left in the file may carry (-1 for a new file of zeros)
     */
    private record Prepared(long index, Path path, StorageFile file, long capacity, long maxSeq) {
    }

    /**
     * A released segment file kept for reuse. Its old records stay in it, so it may become a
     * segment only while every seq in it is below the ones that segment will hold: recovery
     * tells stale records from live ones by their seq.
     *
     * @param maxSeq the highest seq of a record in the file
     */
    private record Spare(Path path, long maxSeq) {
    }

    /** A consumer's cursor; handles come and go, the state stays until removed. */
    private static final class CursorState {
        final String name;
        final AtomicReference<Position> position;
        volatile OverflowHandler handler;
        volatile CursorHandle owner;

        CursorState(String name, Position position) {
            this.name = name;
            this.position = new AtomicReference<>(position);
        }

        boolean moveTo(Position p) {
            Position cur;
            while ((cur = position.get()).compareTo(p) < 0) {
                if (position.compareAndSet(cur, p)) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * Opens a group's journal, creating it when new, and recovers it.
     *
     * @param onClose told when the journal was closed
     */
    public static FileJournal open(Storage storage, Path root, JournalOptions options, JournalSettings settings, Executor executor,
                                   Consumer<FileJournal> onClose) throws IOException {
        long capacity = options.capacityBytes() == 0 ? settings.capacityBytes() : options.capacityBytes();
        JournalSettings.checkCapacity(capacity, settings.segmentBytes());
        return new FileJournal(storage, root, options, settings.withCapacity(capacity), executor, onClose);
    }

    private FileJournal(Storage storage, Path root, JournalOptions options, JournalSettings settings, Executor executor,
                        Consumer<FileJournal> onClose) throws IOException {
        this.storage = storage;
        this.group = options.group();
        this.groupId = options.groupId();
        this.dir = root.resolve(group);
        this.metaPath = dir.resolve(META);
        this.settings = settings;
        this.capacityBytes = settings.capacityBytes();
        this.maxSegments = settings.maxSegments(capacityBytes);
        this.executor = executor;
        this.onClose = onClose == null ? j -> { } : onClose;

        storage.createDirectories(dir);
        boolean fresh = !storage.exists(metaPath);
        JournalMeta meta;
        if (fresh) {
            for (Path p : storage.list(dir)) {
                if (Segment.parseIndex(p.getFileName().toString()) >= 0) {
                    throw new IOException("journal directory " + dir + " holds segment files but no " + META
                            + "; refusing to start a new journal over them");
                }
            }
            meta = new JournalMeta(groupId, true, Position.ZERO, Position.ZERO, 0,
                    List.of(new EpochEntry(1, "local", 1, 0)), Map.of());
        } else {
            meta = JournalMeta.decode(storage.readAll(metaPath), metaPath.toString());
            if (meta.groupId() != groupId) {
                throw new IOException("journal " + dir + " belongs to group id " + meta.groupId() + ", but it was opened as group id "
                        + groupId);
            }
        }
        Recovery.Result r = new Recovery(storage, dir, group, groupId, meta, settings.segmentBytes()).run();
        try {
            for (Segment s : r.segments()) {
                segments.put(s.firstSeq, s);
                s.file.force(); // what a killed process left in the page cache is durable from here on
            }
            for (Path p : r.spares()) {
                // recovery keeps no file holding a record past the head as a spare
                spares.add(new Spare(p, r.head().seq()));
            }
            Segment last = r.segments().isEmpty() ? null : r.segments().get(r.segments().size() - 1);
            current = last;
            firstUnforced = last;
            nextIndex = r.nextIndex();
            head = r.head();
            durable = r.head();
            history = meta.history();
            epoch = history.get(history.size() - 1).epoch();
            retainedStart = meta.retainedStart();
            oldestSegment = last == null ? r.nextIndex() : r.segments().get(0).index;
            Position cp = meta.checkpoint();
            if (cp.isAfter(head)) {
                LOG.warn("Journal of group {}: checkpoint {} is past the last intact record {} after the cut; it is set back",
                        group, cp, head);
                cp = head;
            }
            checkpoint = cp;
            for (Map.Entry<String, Position> e : meta.cursors().entrySet()) {
                cursors.put(e.getKey(), new CursorState(e.getKey(), e.getValue()));
            }
            activityLog = ActivityLogImpl.open(storage, dir, settings.activityExtentBytes(), settings.activityExtents(),
                    new ActivityLogImpl.JournalSync() {
                        @Override
                        public long durableSeq() {
                            return durable.seq();
                        }

                        @Override
                        public void forceThrough(long seq) throws IOException {
                            forceSeq(seq);
                        }
                    });
            boolean clean = fresh || meta.cleanShutdown();
            List<ActivityExtent> hot = clean ? List.of() : sorted(activityLog.recovered());
            long redo = Math.max(0, head.seq() - checkpoint.seq());
            Optional<TailDamage> damage = r.damage();
            recovery = new RecoveryReport(clean, checkpoint, head, redo, hot, damage);
            synchronized (metaLock) {
                persistMeta(false);
            }
        } catch (IOException | RuntimeException e) {
            for (Segment s : r.segments()) {
                closeQuietly(s.file);
            }
            throw e;
        }
        if (recovery.cleanShutdown()) {
            LOG.info("Opened journal of group {} at {} (clean shutdown, {} segments)", group, head, segments.size());
        } else {
            LOG.info("Opened journal of group {} after an unclean stop: head {}, checkpoint {}, {} records to redo, {} hot extents",
                    group, head, checkpoint, recovery.recordsToRedo(), recovery.activityLog().size());
        }
        schedulePrepare();
    }

    private static List<ActivityExtent> sorted(List<ActivityExtent> in) {
        List<ActivityExtent> out = new ArrayList<>(in);
        out.sort(Comparator.comparingInt(ActivityExtent::volumeId).thenComparingLong(ActivityExtent::index));
        return List.copyOf(out);
    }

    @Override
    public String group() {
        return group;
    }

    @Override
    public int groupId() {
        return groupId;
    }

    Path directory() {
        return dir;
    }

    @Override
    public RecoveryReport recovery() {
        return recovery;
    }

    @Override
    public long epoch() {
        return epoch;
    }

    @Override
    public List<EpochEntry> history() {
        return history;
    }

    @Override
    public Position head() {
        return head;
    }

    @Override
    public Position durable() {
        return durable;
    }

    @Override
    public Position checkpoint() {
        return checkpoint;
    }

    @Override
    public Position retainedStart() {
        return retainedStart;
    }

    @Override
    public ActivityLog activityLog() {
        return activityLog;
    }

    @Override
    public void reclaimHandler(ReclaimHandler handler) {
        this.reclaimHandler = handler;
    }

    // ---- appending -----------------------------------------------------------------------

    @Override
    public Position append(RecordKind kind, int volumeId, long offset, long length, ByteBuffer data) throws IOException {
        Objects.requireNonNull(kind, "kind");
        int dataBytes = checkRecord(kind, offset, length, data);
        int dataCrc = dataBytes > 0 ? RecordFormat.dataCrc(DATA_CRC.get(), data) : 0;
        long recordBytes = RecordFormat.recordBytes(dataBytes);
        long time = System.currentTimeMillis();
        for (int attempt = 0; ; attempt++) {
            Position written = null;
            appendLock.lock();
            try {
                checkWritable();
                Segment seg = current;
                if (seg == null || seg.room() < recordBytes) {
                    seg = roll();
                }
                if (seg != null) {
                    written = write(seg, kind, volumeId, offset, length, dataBytes > 0 ? data : null, dataBytes, dataCrc, recordBytes,
                            epoch, head.seq() + 1, time);
                }
            } finally {
                appendLock.unlock();
            }
            if (written != null) {
                if (roomLow) {
                    makeRoomAhead();
                }
                return written;
            }
            if (attempt >= 3) {
                throw full();
            }
            makeRoom(false);
        }
    }

    @Override
    public Position appendReplicated(JournalRecord record) throws IOException {
        Objects.requireNonNull(record, "record");
        RecordKind kind = record.kind();
        ByteBuffer data = record.data();
        int dataBytes = checkRecord(kind, record.offset(), record.length(), data);
        int dataCrc = dataBytes > 0 ? RecordFormat.dataCrc(DATA_CRC.get(), data) : 0;
        long recordBytes = RecordFormat.recordBytes(dataBytes);
        Position at = record.position();
        for (int attempt = 0; ; ) {
            Position forceFirst = null;
            Position written = null;
            appendLock.lock();
            try {
                checkWritable();
                Position h = head;
                if (at.seq() != h.seq() + 1) {
                    throw new IllegalArgumentException("replicated record " + at + " does not follow the head " + h + " of the journal of group "
                            + group + ": its seq must be " + (h.seq() + 1));
                }
                long ep = epoch;
                if (at.epoch() < ep) {
                    throw new IllegalArgumentException("replicated record " + at + " is of epoch " + at.epoch() + ", below the current epoch "
                            + ep + " of the journal of group " + group + " (head " + h + ")");
                }
                boolean raise = at.epoch() > ep;
                if (raise && durable.isBefore(h)) {
                    // The history names the last seq of the previous epoch; make sure the journal keeps it.
                    forceFirst = h;
                } else {
                    Segment seg = current;
                    if (seg == null || seg.room() < recordBytes) {
                        seg = roll();
                    }
                    if (seg != null) {
                        if (raise) {
                            addEpoch(new EpochEntry(at.epoch(), REPLICATED_SITE, at.seq(), h.seq()));
                        }
                        written = write(seg, kind, record.volumeId(), record.offset(), record.length(), dataBytes > 0 ? data : null,
                                dataBytes, dataCrc, recordBytes, at.epoch(), at.seq(), record.time());
                    }
                }
            } finally {
                appendLock.unlock();
            }
            if (written != null) {
                if (roomLow) {
                    makeRoomAhead();
                }
                return written;
            }
            if (forceFirst != null) {
                force(forceFirst);
                continue;
            }
            if (attempt++ >= 3) {
                throw full();
            }
            makeRoom(false);
        }
    }

    /**
     * Checks a record's kind, range and data against what the journal takes.
     *
     * @return the bytes of data the record carries
     */
    private int checkRecord(RecordKind kind, long offset, long length, ByteBuffer data) {
        int dataBytes = 0;
        if (kind.carriesData()) {
            if (data == null) {
                throw new IllegalArgumentException("a " + kind + " record needs data");
            }
            dataBytes = data.remaining();
            if (dataBytes != length) {
                throw new IllegalArgumentException(kind + " record of length " + length + " carries " + dataBytes + " bytes");
            }
            if (dataBytes > settings.maxRecordBytes()) {
                throw new IllegalArgumentException("a record of " + dataBytes + " bytes is larger than the journal takes ("
                        + settings.maxRecordBytes() + " bytes)");
            }
        } else if (data != null && data.hasRemaining()) {
            throw new IllegalArgumentException(kind + " records carry no data, got " + data.remaining() + " bytes");
        }
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("record offset and length must not be negative: " + offset + "+" + length);
        }
        return dataBytes;
    }

    /** Writes one record at the end of {@code seg}. Caller holds the append lock. */
    private Position write(Segment seg, RecordKind kind, int volumeId, long offset, long length, ByteBuffer data, int dataBytes,
                           int dataCrc, long recordBytes, long ep, long seq, long time) throws IOException {
        RecordFormat.encode(header, headerCrc, kind.code(), groupId, volumeId, ep, seq, offset, length, time, dataCrc);
        long at = seg.end;
        int pad = (int) (recordBytes - RecordFormat.HEADER_BYTES - dataBytes);
        ByteBuffer[] g;
        int dataPosition = data == null ? 0 : data.position();
        if (data == null) {
            single[0] = header;
            g = single;
        } else if (pad == 0) {
            gather2[0] = header;
            gather2[1] = data;
            g = gather2;
        } else {
            padding.clear().limit(pad);
            gather3[0] = header;
            gather3[1] = data;
            gather3[2] = padding;
            g = gather3;
        }
        try {
            seg.file.write(g, at);
        } catch (IOException e) {
            throw new IOException("cannot write record seq " + seq + " of group " + group + " to " + seg.path + ": " + e.getMessage(), e);
        } finally {
            if (data != null) {
                data.position(dataPosition);
                gather2[1] = null;
                gather3[1] = null;
            }
        }
        Position p = new Position(ep, seq);
        seg.added(p, at, at + recordBytes);
        head = p;
        return p;
    }

    private void checkWritable() throws IOException {
        if (closed) {
            throw new IOException("journal of group " + group + " is closed");
        }
        IOException f = failed;
        if (f != null) {
            throw new IOException("journal of group " + group + " failed and takes no writes until it is reopened: " + f.getMessage(), f);
        }
    }

    /**
     * Makes the next segment current. Caller holds the append lock.
     *
     * @return the new segment, or null when the capacity allows no further segment file
     */
    private Segment roll() throws IOException {
        Segment old = current;
        Prepared p = takePrepared(nextIndex);
        if (p == null) {
            return null;
        }
        long firstSeq = head.seq() + 1;
        try {
            p.file().write(SegmentFormat.encode(new SegmentFormat.SegmentHeader(groupId, p.index(), firstSeq, p.capacity(),
                    System.currentTimeMillis())), 0);
        } catch (IOException e) {
            // The file is allocated, so this is no full disk but an I/O error; segment indexes must stay
            // consecutive, so the journal cannot skip this one and go on.
            IOException f = new IOException("cannot start journal segment " + p.path() + " of group " + group + ": " + e.getMessage(), e);
            failed = f;
            closeQuietly(p.file());
            throw f;
        }
        if (old != null && old.isEmpty()) {
            // A segment too small for the record (made with other settings): drop it, it holds nothing.
            segments.remove(old.firstSeq, old);
            old.released = true;
            closeQuietly(old.file);
            storage.deleteIfExists(old.path);
        }
        Segment seg = new Segment(p.index(), p.path(), p.file(), p.capacity(), firstSeq);
        segments.put(firstSeq, seg);
        current = seg;
        if (firstUnforced == null || firstUnforced == old && old.isEmpty()) {
            firstUnforced = seg;
        }
        schedulePrepare();
        roomLow = lowOnRoom();
        return seg;
    }

    // ---- segment files prepared ahead --------------------------------------------------------

    /** Files counted against the capacity: retained segments, the one prepared ahead and spares. Holds prepLock. */
    private int filesOnDisk() {
        return segments.size() + (ready != null ? 1 : 0) + spares.size() + (preparing != null ? 1 : 0) + removing;
    }

    private boolean mayAddFile() {
        return !spares.isEmpty() || filesOnDisk() < maxSegments;
    }

    /** Starts preparing the next segment in the background, when none is ready and the capacity allows. */
    private void schedulePrepare() {
        CompletableFuture<Void> task;
        long idx;
        synchronized (prepLock) {
            if (stopPreparing || preparing != null || ready != null || !mayAddFile()) {
                return;
            }
            task = new CompletableFuture<>();
            preparing = task;
            idx = nextIndex;
        }
        try {
            executor.execute(() -> runPrepare(idx, task));
        } catch (RejectedExecutionException e) {
            synchronized (prepLock) {
                preparing = null;
            }
            task.complete(null);
        }
    }

    private void runPrepare(long idx, CompletableFuture<Void> task) {
        try {
            Prepared p = prepare(idx);
            synchronized (prepLock) {
                if (stopPreparing) {
                    closeQuietly(p.file());
                } else {
                    ready = p;
                }
            }
        } catch (IOException e) {
            synchronized (prepLock) {
                prepareFailure = e;
            }
            if (!stopPreparing) {
                LOG.warn("Journal of group {}: {}", group, e.getMessage());
            }
        } finally {
            synchronized (prepLock) {
                preparing = null;
                prepLock.notifyAll();
            }
            task.complete(null);
        }
    }

    /**
     * The prepared segment for {@code idx}: waits for the one in preparation, or prepares it
     * here. Caller holds the append lock.
     *
     * @return null when the capacity allows no further file
     */
    private Prepared takePrepared(long idx) throws IOException {
        while (true) {
            CompletableFuture<Void> wait;
            boolean inline = false;
            synchronized (prepLock) {
                if (ready != null) {
                    Prepared r = ready;
                    ready = null;
                    if (r.index() == idx) {
                        // advanced together with the taking, so that no preparation starts for this index again
                        nextIndex = idx + 1;
                        return r;
                    }
                    closeQuietly(r.file());
                    storage.deleteIfExists(r.path());
                }
                wait = preparing;
                if (wait == null) {
                    if (!mayAddFile()) {
                        return null;
                    }
                    prepareFailure = null;
                    wait = new CompletableFuture<>();
                    preparing = wait;
                    inline = true;
                }
            }
            if (inline) {
                runPrepare(idx, wait);
                synchronized (prepLock) {
                    if (ready == null && prepareFailure != null) {
                        IOException e = prepareFailure;
                        prepareFailure = null;
                        throw e;
                    }
                }
            } else {
                wait.join();
            }
        }
    }

    /** Makes segment file {@code idx}: a recycled spare renamed, or a new file of zeros. */
    private Prepared prepare(long idx) throws IOException {
        Path target = dir.resolve(Segment.fileName(idx));
        Spare spare;
        synchronized (prepLock) {
            spare = spares.pollFirst();
        }
        if (spare != null && spare.maxSeq() > head.seq()) {
            // its records' seqs come again (kept out by rebase and recycle; checked here as well)
            storage.deleteIfExists(spare.path());
            spare = null;
        }
        if (spare != null) {
            try {
                storage.rename(spare.path(), target);
                StorageFile f = storage.open(target, false);
                long size = f.size();
                if (size >= JournalSettings.minSegmentBytes(settings.maxRecordBytes())) {
                    recycled.incrementAndGet();
                    return new Prepared(idx, target, f, size, spare.maxSeq());
                }
                f.close();
                storage.deleteIfExists(target);
            } catch (IOException e) {
                LOG.warn("Journal of group {}: cannot reuse spare segment {}, making a new one: {}", group, spare.path(), e.getMessage());
                storage.deleteIfExists(spare.path());
                storage.deleteIfExists(target);
            }
        }
        Path tmp = dir.resolve(Segment.fileName(idx) + ".tmp");
        StorageFile f = null;
        long size = settings.segmentBytes();
        try {
            f = storage.open(tmp, true);
            // Written zeros (not a sparse length) so that later fdatasyncs need no metadata update.
            long off = 0;
            while (off < size) {
                if (stopPreparing) {
                    throw new IOException("journal closed while preparing a segment");
                }
                int n = (int) Math.min(Recovery.ZEROS.capacity(), size - off);
                ByteBuffer z = Recovery.ZEROS.duplicate();
                z.limit(n);
                f.write(z, off);
                off += n;
            }
            f.force();
            f.close();
            f = null;
            storage.rename(tmp, target);
            return new Prepared(idx, target, storage.open(target, false), size, -1);
        } catch (IOException e) {
            if (f != null) {
                closeQuietly(f);
            }
            try {
                storage.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original failure matters; recovery deletes leftover temp files
            }
            throw new IOException("cannot preallocate journal segment " + target + " (" + ByteSize.format(size) + ") for group "
                    + group + ": " + e.getMessage(), e);
        }
    }

    // ---- group commit ----------------------------------------------------------------------

    @Override
    public void force(Position upTo) throws IOException {
        Objects.requireNonNull(upTo, "upTo");
        long r = rebases; // read first: the head read next is at least as new
        if (durable.compareTo(upTo) >= 0) {
            return;
        }
        Position h = head;
        if (upTo.isAfter(h)) {
            throw new IllegalArgumentException("cannot force the journal of group " + group + " through " + upTo + ": its head is " + h);
        }
        awaitDurable(upTo, 0, r);
    }

    /** Forces through a seq (the activity log knows seqs, not positions). */
    void forceSeq(long seq) throws IOException {
        long r = rebases;
        if (durable.seq() >= seq) {
            return;
        }
        if (seq > head.seq()) {
            throw new IllegalArgumentException("cannot force the journal of group " + group + " through seq " + seq + ": its head is " + head);
        }
        awaitDurable(null, seq, r);
    }

    /**
     * Leader/follower: one caller forces for all; the others wait for a force that covers them.
     * A rebase ends the wait: it happens only once every record is durable, and afterwards the
     * position waited for belongs to the dropped records.
     */
    private void awaitDurable(Position upTo, long seq, long rebasesAtCall) throws IOException {
        forceLock.lock();
        try {
            while (rebases == rebasesAtCall && (upTo != null ? durable.compareTo(upTo) < 0 : durable.seq() < seq)) {
                IOException f = failed;
                if (f != null) {
                    throw new IOException("journal of group " + group + " failed: " + f.getMessage(), f);
                }
                if (shut) {
                    throw new IOException("journal of group " + group + " is closed");
                }
                if (forcing) {
                    forceDone.awaitUninterruptibly();
                    continue;
                }
                forcing = true;
                forceLock.unlock();
                try {
                    syncOnce();
                } finally {
                    forceLock.lock();
                    forcing = false;
                    forceDone.signalAll();
                }
            }
        } finally {
            forceLock.unlock();
        }
    }

    /** One fsync round: every segment written since the last round, oldest first. */
    private void syncOnce() throws IOException {
        Position target;
        Segment[] dirty;
        long r;
        appendLock.lock();
        try {
            r = rebases;
            target = head;
            Segment from = firstUnforced;
            dirty = from == null ? new Segment[0] : segments.tailMap(from.firstSeq, true).values().toArray(new Segment[0]);
            firstUnforced = current;
        } finally {
            appendLock.unlock();
        }
        Position before = durable;
        if (target.compareTo(before) <= 0) {
            return;
        }
        for (Segment s : dirty) {
            if (s.released) {
                continue; // released segments hold only records already durable
            }
            try {
                s.file.force();
            } catch (IOException e) {
                if (s.released) {
                    continue;
                }
                // After a failed fsync the page cache may have dropped the data: no later fsync can vouch for it.
                IOException f = new IOException("fsync of " + s.path + " failed; the journal takes no writes until it is reopened: "
                        + e.getMessage(), e);
                failed = f;
                LOG.error("Journal of group {}: {}", group, f.getMessage(), e);
                throw f;
            }
        }
        forceLock.lock();
        try {
            if (rebases != r) {
                return; // the records forced were dropped; the rebase set durable itself
            }
            durable = target;
        } finally {
            forceLock.unlock();
        }
        forces.incrementAndGet();
        forcedRecords.addAndGet(target.seq() - before.seq());
    }

    // ---- checkpoints, retention and capacity --------------------------------------------------

    @Override
    public void checkpoint(Position upTo) throws IOException {
        Objects.requireNonNull(upTo, "upTo");
        if (upTo.isAfter(head)) {
            throw new IllegalArgumentException("cannot checkpoint the journal of group " + group + " at " + upTo + ": its head is " + head);
        }
        checkOpen();
        // The metadata never names a checkpoint the journal could lose.
        force(upTo);
        synchronized (metaLock) {
            if (upTo.isAfter(checkpoint)) {
                checkpoint = upTo;
            }
        }
        release();
    }

    private void checkOpen() throws IOException {
        if (shut) {
            throw new IOException("journal of group " + group + " is closed");
        }
    }

    /**
     * Persists the metadata and releases the segments all of whose records are at or before
     * both the checkpoint and every cursor.
     */
    private void release() throws IOException {
        List<Segment> released = new ArrayList<>();
        synchronized (metaLock) {
            if (shut) {
                return;
            }
            Position bound = checkpoint;
            for (CursorState c : cursors.values()) {
                bound = Position.min(bound, c.position.get());
            }
            Segment cur = current;
            for (Segment s : segments.values()) {
                Position last = s.lastPosition;
                if (s == cur || last == null || last.isAfter(bound)) {
                    break;
                }
                released.add(s);
            }
            Position oldRetained = retainedStart;
            long oldOldest = oldestSegment;
            if (!released.isEmpty()) {
                Segment lastReleased = released.get(released.size() - 1);
                retainedStart = lastReleased.lastPosition;
                Map.Entry<Long, Segment> kept = segments.higherEntry(lastReleased.firstSeq);
                oldestSegment = kept == null ? nextIndex : kept.getValue().index;
            }
            try {
                persistMeta(false);
            } catch (IOException e) {
                retainedStart = oldRetained;
                oldestSegment = oldOldest;
                throw e;
            }
            synchronized (prepLock) {
                removing += released.size();
            }
            for (Segment s : released) {
                segments.remove(s.firstSeq, s);
                s.released = true;
            }
        }
        for (Segment s : released) {
            closeQuietly(s.file);
            recycle(s);
        }
        if (!released.isEmpty()) {
            LOG.debug("Journal of group {}: released {} segments through {}", group, released.size(), retainedStart);
            schedulePrepare();
        }
    }

    /** Keeps a released segment file as a spare for a later segment, or deletes it. */
    private void recycle(Segment s) {
        boolean keep;
        synchronized (prepLock) {
            // Every released file within the capacity is kept: reusing one costs a rename, while a new
            // one costs writing and forcing a whole segment of zeros. Not one whose seqs come again
            // after a rebase to a lower seq: recovery could take its records for new ones.
            keep = !stopPreparing && filesOnDisk() <= maxSegments && s.capacity == settings.segmentBytes() && s.lastSeq <= head.seq();
        }
        Path spare = null;
        try {
            if (keep) {
                Path name = dir.resolve(Recovery.SPARE_PREFIX + s.path.getFileName().toString().substring(Segment.PREFIX.length()));
                storage.rename(s.path, name);
                spare = name;
            } else {
                storage.deleteIfExists(s.path);
            }
        } catch (IOException e) {
            LOG.warn("Journal of group {}: cannot remove released segment {}: {}", group, s.path, e.getMessage());
        } finally {
            synchronized (prepLock) {
                removing--;
                if (spare != null) {
                    spares.addLast(new Spare(spare, s.lastSeq));
                }
                prepLock.notifyAll();
            }
        }
    }

    /** Holds metaLock. */
    private void persistMeta(boolean clean) throws IOException {
        Map<String, Position> cs = new LinkedHashMap<>();
        cursors.values().stream().sorted(Comparator.comparing(c -> c.name)).forEach(c -> cs.put(c.name, c.position.get()));
        storage.writeAtomically(metaPath, new JournalMeta(groupId, clean, checkpoint, retainedStart, oldestSegment, history, cs).encode());
    }

    /**
     * Called without the append lock when an append found no room, or {@code ahead} of that
     * when little room is left: reclaim, then fold cursors.
     */
    private void makeRoom(boolean ahead) throws IOException {
        reclaimLock.lock();
        try {
            if (ahead ? !lowOnRoom() : hasRoom()) {
                return;
            }
            ReclaimHandler rh = reclaimHandler;
            if (rh != null) {
                rh.reclaim(this);
            }
            release();
            if (ahead ? !lowOnRoom() : hasRoom()) {
                return;
            }
            foldCursors();
            release();
        } finally {
            reclaimLock.unlock();
        }
    }

    /**
     * Segment files an append may still start before the journal is full: spares, the one
     * prepared ahead and files the capacity still allows. Holds prepLock.
     */
    private int freeSegments() {
        return spares.size() + (ready != null ? 1 : 0) + (preparing != null ? 1 : 0) + Math.max(0, maxSegments - filesOnDisk());
    }

    /**
     * Once a quarter of the capacity or less is free, checkpoints and folds lagging cursors in
     * the background. A fold reads many records and a checkpoint forces the volumes; done in
     * the append that finds the journal full, both would stall that host write and every one
     * queued behind it.
     */
    private void makeRoomAhead() {
        CompletableFuture<Void> task;
        synchronized (prepLock) {
            roomLow = false; // the next roll sets it again if this pass leaves too little
            if (stopPreparing || makingRoom != null || freeSegments() > lowWater()) {
                return;
            }
            task = new CompletableFuture<>();
            makingRoom = task;
        }
        try {
            executor.execute(() -> {
                try {
                    makeRoom(true);
                } catch (IOException | RuntimeException e) {
                    if (!stopPreparing) {
                        LOG.warn("Journal of group {}: making room ahead of appends failed: {}", group, e.getMessage());
                    }
                } finally {
                    synchronized (prepLock) {
                        makingRoom = null;
                    }
                    task.complete(null);
                }
            });
        } catch (RejectedExecutionException e) {
            synchronized (prepLock) {
                makingRoom = null;
            }
            task.complete(null);
        }
    }

    /** Whether a pass that makes room ahead of appends runs now. */
    boolean makingRoom() {
        synchronized (prepLock) {
            return makingRoom != null;
        }
    }

    /** A quarter of the capacity, in segments: room is made ahead below it, and a fold frees about that much. */
    private int lowWater() {
        return Math.max(1, maxSegments / 4);
    }

    private boolean lowOnRoom() {
        synchronized (prepLock) {
            return !stopPreparing && freeSegments() <= lowWater();
        }
    }

    private boolean hasRoom() {
        synchronized (prepLock) {
            return ready != null || preparing != null || mayAddFile();
        }
    }

    /**
     * Moves the cursors that hold back the oldest checkpointed segments, after their overflow
     * handlers folded the records they still needed. Frees about a quarter of the capacity at
     * once so that a lagging consumer is not folded at every segment.
     */
    private void foldCursors() throws IOException {
        Position cp = checkpoint;
        Segment cur = current;
        List<Segment> candidates = new ArrayList<>();
        for (Segment s : segments.values()) {
            Position last = s.lastPosition;
            if (s == cur || last == null || last.isAfter(cp)) {
                break;
            }
            candidates.add(s);
        }
        if (candidates.isEmpty()) {
            return;
        }
        int want = lowWater();
        Position upTo = candidates.get(Math.min(want, candidates.size()) - 1).lastPosition;
        List<CursorState> holding = new ArrayList<>(cursors.values());
        holding.sort(Comparator.comparing(c -> c.position.get()));
        for (CursorState c : holding) {
            Position at = c.position.get();
            OverflowHandler h = c.handler;
            if (!at.isBefore(upTo) || h == null) {
                continue;
            }
            Position from = Position.max(at, retainedStart);
            try (JournalReader r = read(from, upTo)) {
                h.fold(r, upTo);
            }
            c.moveTo(upTo);
            LOG.info("Journal of group {} is full: cursor '{}' folded the records after {} through {} and moved there",
                    group, c.name, at, upTo);
        }
    }

    private JournalFullException full() {
        int files;
        synchronized (prepLock) {
            files = filesOnDisk();
        }
        StringBuilder why = new StringBuilder();
        Map.Entry<Long, Segment> oldest = segments.firstEntry();
        Position oldestEnd = oldest == null ? null : oldest.getValue().lastPosition;
        if (oldestEnd != null && oldestEnd.isAfter(checkpoint)) {
            why.append("the checkpoint at ").append(checkpoint).append(" holds the oldest segment (its records run to ")
                    .append(oldestEnd).append(")");
        }
        for (CursorState c : cursors.values()) {
            Position at = c.position.get();
            if (oldestEnd != null && at.isBefore(oldestEnd)) {
                if (why.length() > 0) {
                    why.append("; ");
                }
                why.append("cursor '").append(c.name).append("' at ").append(at).append(" holds it")
                        .append(c.handler == null ? " and has no overflow handler" : "");
            }
        }
        if (why.length() == 0) {
            why.append("no segment can be released");
        }
        return new JournalFullException("journal of group " + group + " is full: its segments use "
                + ByteSize.format(files * settings.segmentBytes()) + " (" + files * settings.segmentBytes() + " bytes) of its capacity "
                + ByteSize.format(capacityBytes) + " (" + capacityBytes + " bytes); " + why);
    }

    // ---- reading -----------------------------------------------------------------------------

    @Override
    public JournalReader read(Position after, Position upTo) throws IOException {
        Objects.requireNonNull(after, "after");
        Objects.requireNonNull(upTo, "upTo");
        checkOpen();
        long r = rebases; // read first: the head and retained start read next are at least as new
        Position h = head;
        if (upTo.isAfter(h)) {
            throw new IllegalArgumentException("cannot read the journal of group " + group + " through " + upTo + ": its head is " + h);
        }
        Position rs = retainedStart;
        if (after.isBefore(rs)) {
            throw new JournalGapException(after, rs);
        }
        return new RecordReader(this, after, upTo, h.seq(), r);
    }

    /** How many rebases this journal went through since open. */
    long rebases() {
        return rebases;
    }

    // ---- cursors ---------------------------------------------------------------------------------

    @Override
    public JournalCursor cursor(String consumer, OverflowHandler overflow) throws IOException {
        if (consumer == null || consumer.isBlank() || consumer.length() > 200 || consumer.chars().anyMatch(Character::isISOControl)) {
            throw new IllegalArgumentException("cursor name '" + consumer + "' must be 1 to 200 printable characters");
        }
        checkOpen();
        CursorState st;
        synchronized (metaLock) {
            st = cursors.get(consumer);
            if (st == null) {
                st = new CursorState(consumer, head);
                cursors.put(consumer, st);
                try {
                    persistMeta(false);
                } catch (IOException e) {
                    cursors.remove(consumer, st);
                    throw e;
                }
            }
        }
        CursorHandle handle = new CursorHandle(st);
        st.owner = handle;
        st.handler = overflow;
        return handle;
    }

    private final class CursorHandle implements JournalCursor {
        private final CursorState state;
        private volatile boolean detached;

        CursorHandle(CursorState state) {
            this.state = state;
        }

        @Override
        public String consumer() {
            return state.name;
        }

        @Override
        public Position position() {
            return state.position.get();
        }

        @Override
        public void advance(Position durableAtConsumer) {
            Objects.requireNonNull(durableAtConsumer, "durableAtConsumer");
            if (detached) {
                throw new IllegalStateException("cursor '" + state.name + "' of group " + group + " was closed");
            }
            Position h = head;
            if (durableAtConsumer.isAfter(h)) {
                throw new IllegalArgumentException("cannot advance cursor '" + state.name + "' to " + durableAtConsumer
                        + ": the head of the journal of group " + group + " is " + h);
            }
            // Persisted lazily (checkpoint, release, close): after a crash the cursor is behind, which only keeps more.
            state.moveTo(durableAtConsumer);
        }

        @Override
        public long lagRecords() {
            return Math.max(0, head.seq() - state.position.get().seq());
        }

        @Override
        public void remove() throws IOException {
            synchronized (metaLock) {
                cursors.remove(state.name, state);
            }
            detached = true;
            state.handler = null;
            release();
        }

        @Override
        public void close() {
            detached = true;
            if (state.owner == this) {
                state.handler = null;
            }
        }

        @Override
        public String toString() {
            return "cursor " + state.name + " at " + state.position.get();
        }
    }

    // ---- epochs ------------------------------------------------------------------------------------

    @Override
    public void beginEpoch(long newEpoch, String siteId) throws IOException {
        if (siteId == null || siteId.isBlank()) {
            throw new IllegalArgumentException("a new epoch needs the id of the site that opens it");
        }
        while (true) {
            if (newEpoch <= epoch) {
                throw new IllegalArgumentException("epoch " + newEpoch + " is not above the current epoch " + epoch + " of group " + group);
            }
            // The history names the last seq of the previous epoch; make sure the journal keeps it.
            Position target = head;
            force(target);
            appendLock.lock();
            try {
                checkWritable();
                if (!head.equals(target)) {
                    continue;
                }
                if (newEpoch <= epoch) {
                    continue;
                }
                addEpoch(new EpochEntry(newEpoch, siteId, target.seq() + 1, target.seq()));
                return;
            } finally {
                appendLock.unlock();
            }
        }
    }

    /** Adds an epoch to the history durably; the records that follow carry it. Caller holds the append lock. */
    private void addEpoch(EpochEntry e) throws IOException {
        synchronized (metaLock) {
            List<EpochEntry> before = history;
            List<EpochEntry> next = new ArrayList<>(before);
            next.add(e);
            history = List.copyOf(next);
            try {
                persistMeta(false);
            } catch (IOException ex) {
                history = before;
                throw ex;
            }
        }
        epoch = e.epoch();
        LOG.info("Journal of group {} began epoch {} of site {} at seq {}", group, e.epoch(), e.siteId(), e.firstSeq());
    }

    // ---- rebase ------------------------------------------------------------------------------------

    /**
     * Drops every record and starts over at {@code newHead}. The metadata write is the commit
     * point: before it the old journal is intact on disk, after it recovery starts at
     * {@code newHead} (the old segments lie below the oldest segment it names and are deleted).
     * Files whose records' seqs come again after {@code newHead} are deleted before that write,
     * so that recovery can never take an old record for a new one.
     */
    @Override
    public void rebase(Position newHead) throws IOException {
        rebase(newHead, null);
    }

    @Override
    public void rebase(Position newHead, List<EpochEntry> adopted) throws IOException {
        Objects.requireNonNull(newHead, "newHead");
        checkOpen();
        List<Segment> dropped;
        Position oldHead;
        reclaimLock.lock(); // no fold moves a cursor meanwhile
        try {
            appendLock.lock();
            try {
                checkWritable();
                synchronized (metaLock) {
                    if (shut) {
                        throw new IOException("journal of group " + group + " is closed");
                    }
                    oldHead = head;
                    Position cp = checkpoint;
                    if (!cp.equals(oldHead)) {
                        throw new IllegalStateException("cannot rebase the journal of group " + group + " to " + newHead + ": its checkpoint "
                                + cp + " has not reached its head " + oldHead + " (every record must be applied and checkpointed first)");
                    }
                    List<CursorState> cs = new ArrayList<>(cursors.values());
                    cs.sort(Comparator.comparing(c -> c.name));
                    for (CursorState c : cs) {
                        Position at = c.position.get();
                        if (at.isBefore(oldHead)) {
                            throw new IllegalStateException("cannot rebase the journal of group " + group + " to " + newHead + ": cursor '"
                                    + c.name + "' at " + at + " still needs the records up to the head " + oldHead + " (checkpoint " + cp + ")");
                        }
                    }
                    dropSparesAbove(newHead.seq());

                    long newEpoch = Math.max(epoch, newHead.epoch());
                    List<EpochEntry> hist = history;
                    if (adopted != null) {
                        // the new primary's epochs through the new head replace this journal's
                        List<EpochEntry> next = new ArrayList<>();
                        for (EpochEntry e : adopted) {
                            if (e.firstSeq() <= newHead.seq() + 1) {
                                next.add(e);
                            }
                        }
                        if (next.isEmpty() || next.get(next.size() - 1).epoch() < newHead.epoch()) {
                            next.add(new EpochEntry(newHead.epoch(), REPLICATED_SITE, newHead.seq() + 1, newHead.seq()));
                        }
                        hist = List.copyOf(next);
                        newEpoch = newHead.epoch();
                    } else if (newHead.epoch() > epoch) {
                        List<EpochEntry> next = new ArrayList<>(hist);
                        next.add(new EpochEntry(newHead.epoch(), REPLICATED_SITE, newHead.seq() + 1, newHead.seq()));
                        hist = List.copyOf(next);
                    }
                    Map<String, Position> at = new LinkedHashMap<>();
                    for (CursorState c : cs) {
                        at.put(c.name, newHead);
                    }
                    long oldest = nextIndex;
                    storage.writeAtomically(metaPath, new JournalMeta(groupId, false, newHead, newHead, oldest, hist, at).encode());

                    dropped = new ArrayList<>(segments.values());
                    synchronized (prepLock) {
                        removing += dropped.size();
                    }
                    for (Segment s : dropped) {
                        segments.remove(s.firstSeq, s);
                        s.released = true;
                    }
                    current = null;
                    firstUnforced = null;
                    history = hist;
                    epoch = newEpoch;
                    checkpoint = newHead;
                    retainedStart = newHead;
                    oldestSegment = oldest;
                    for (CursorState c : cs) {
                        c.position.set(newHead);
                    }
                    // every record is checkpointed: no hot extent waits for one, and the old seqs mean nothing now
                    activityLog.forgetSeqs();
                    forceLock.lock();
                    try {
                        head = newHead;
                        durable = newHead;
                        rebases++; // last: whoever sees it sees the new head
                    } finally {
                        forceLock.unlock();
                    }
                }
            } finally {
                appendLock.unlock();
            }
        } finally {
            reclaimLock.unlock();
        }
        for (Segment s : dropped) {
            closeQuietly(s.file);
            recycle(s);
        }
        LOG.info("Journal of group {} was rebased from {} to {}: {} segments dropped, epoch {}", group, oldHead, newHead, dropped.size(),
                epoch);
        schedulePrepare();
    }

    /**
     * Deletes the spares and the prepared segment that hold a record of a seq above {@code seq},
     * after the preparation and the recycling in flight are done. Caller holds metaLock, so no
     * release starts meanwhile.
     */
    private void dropSparesAbove(long seq) throws IOException {
        List<Path> gone = new ArrayList<>();
        synchronized (prepLock) {
            while (preparing != null || removing > 0) {
                try {
                    prepLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while the journal of group " + group + " finished preparing a segment");
                }
            }
            for (Iterator<Spare> it = spares.iterator(); it.hasNext(); ) {
                Spare sp = it.next();
                if (sp.maxSeq() > seq) {
                    it.remove();
                    gone.add(sp.path());
                }
            }
            if (ready != null && ready.maxSeq() > seq) {
                closeQuietly(ready.file());
                gone.add(ready.path());
                ready = null;
            }
        }
        for (Path p : gone) {
            storage.deleteIfExists(p);
        }
        if (!gone.isEmpty()) {
            LOG.debug("Journal of group {}: deleted {} spare segments holding seqs above {}", group, gone.size(), seq);
        }
    }

    // ---- status and closing -----------------------------------------------------------------------

    @Override
    public JournalStatus status() {
        long used = 0;
        for (Segment s : segments.values()) {
            used += s.end;
        }
        int files;
        synchronized (prepLock) {
            files = segments.size() + (ready != null ? 1 : 0) + spares.size();
        }
        Position h = head;
        List<CursorStatus> cs = new ArrayList<>();
        cursors.values().stream().sorted(Comparator.comparing(c -> c.name)).forEach(c -> {
            Position p = c.position.get();
            cs.add(new CursorStatus(c.name, p, Math.max(0, h.seq() - p.seq())));
        });
        Position rs = retainedStart;
        return new JournalStatus(group, epoch, h, durable, checkpoint, rs, used, capacityBytes, files, Math.max(0, h.seq() - rs.seq()),
                forces.get(), forcedRecords.get(), activityLog.size(), List.copyOf(cs));
    }

    long capacityBytes() {
        return capacityBytes;
    }

    /** Segment files reused from released ones since open. */
    long recycledSegments() {
        return recycled.get();
    }

    @Override
    public void close() throws IOException {
        appendLock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            appendLock.unlock();
        }
        CompletableFuture<Void> inFlight;
        CompletableFuture<Void> roomTask;
        synchronized (prepLock) {
            stopPreparing = true;
            inFlight = preparing;
            roomTask = makingRoom;
        }
        if (inFlight != null) {
            inFlight.join();
        }
        if (roomTask != null) {
            roomTask.join();
        }
        IOException first = null;
        boolean clean = false;
        if (failed == null) {
            try {
                Position h = head;
                force(h);
                clean = checkpoint.compareTo(h) >= 0;
                if (clean) {
                    activityLog.clear();
                }
                synchronized (metaLock) {
                    persistMeta(clean);
                }
            } catch (IOException e) {
                first = e;
            }
        }
        synchronized (metaLock) {
            shut = true;
        }
        try {
            activityLog.close();
        } catch (IOException e) {
            first = first == null ? e : first;
        }
        for (Segment s : segments.values()) {
            closeQuietly(s.file);
        }
        synchronized (prepLock) {
            if (ready != null) {
                closeQuietly(ready.file());
                ready = null;
            }
        }
        LOG.info("Closed journal of group {} at {}{}", group, head, clean ? " (clean)" : "");
        onClose.accept(this);
        if (first != null) {
            throw new IOException("closing the journal of group " + group + " failed: " + first.getMessage(), first);
        }
    }

    private static void closeQuietly(StorageFile f) {
        try {
            f.close();
        } catch (IOException e) {
            LOG.debug("Closing {} failed", f, e);
        }
    }

    @Override
    public String toString() {
        return "journal " + group + " at " + head;
    }
}
