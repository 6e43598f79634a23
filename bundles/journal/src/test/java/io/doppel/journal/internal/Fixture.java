package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;

import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.storage.Storage;

/** Small journals for tests: 64 KiB segments, records up to 16 KiB. */
final class Fixture {

    static final Path ROOT = Path.of("/journals");
    static final String GROUP = "g1";
    static final int GROUP_ID = 7;
    static final long SEGMENT = 64 << 10;
    static final int MAX_RECORD = 16 << 10;
    static final Executor DIRECT = Runnable::run;

    private Fixture() {
    }

    static JournalSettings settings(long capacity) {
        return new JournalSettings(SEGMENT, capacity, MAX_RECORD, 64, 64 << 10);
    }

    static JournalSettings settings(long capacity, int extents, long extentBytes) {
        return new JournalSettings(SEGMENT, capacity, MAX_RECORD, extents, extentBytes);
    }

    static FileJournal open(Storage storage) throws IOException {
        return open(storage, settings(64 * SEGMENT));
    }

    static FileJournal open(Storage storage, JournalSettings settings) throws IOException {
        return FileJournal.open(storage, ROOT, new JournalOptions(GROUP, GROUP_ID, 0), settings, DIRECT, null);
    }

    static Path dir() {
        return ROOT.resolve(GROUP);
    }

    static Path segment(long index) {
        return dir().resolve(Segment.fileName(index));
    }

    static List<JournalRecord> readAll(FileJournal j) throws IOException {
        return read(j, j.retainedStart(), j.head());
    }

    static List<JournalRecord> read(FileJournal j, Position after, Position upTo) throws IOException {
        List<JournalRecord> out = new ArrayList<>();
        try (JournalReader r = j.read(after, upTo)) {
            JournalRecord rec;
            while ((rec = r.next()) != null) {
                out.add(rec);
            }
        }
        return out;
    }

    /** Data whose bytes depend on the seed, so that a record's content can be checked. */
    static ByteBuffer data(long seed, int size) {
        byte[] b = new byte[size];
        new java.util.Random(seed).nextBytes(b);
        return ByteBuffer.wrap(b);
    }

    static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }
}
