package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.TreeMap;

import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;

/**
 * A primary's record stream as a copy receives it: seeded records with the primary's
 * positions and times. It keeps what it generated, so that records a copy lost in a crash can
 * be sent again exactly as before.
 */
final class Primary {

    /** Far from this machine's clock, so a record read back with it kept the primary's time. */
    static final long T0 = 1_000_000_000L;
    private static final RecordKind[] OTHER = {RecordKind.TRIM, RecordKind.ZERO, RecordKind.FLUSH, RecordKind.RESIZE, RecordKind.MARKER};

    private final Random rnd;
    private final TreeMap<Long, JournalRecord> records = new TreeMap<>();
    private Position start;
    private long epoch;

    /** A stream whose first record follows {@code start}. */
    Primary(long seed, Position start) {
        this.rnd = new Random(seed);
        restart(start);
    }

    /** Starts a new stream after {@code at} (the copy rebased there); what was generated before is forgotten. */
    void restart(Position at) {
        records.clear();
        start = at;
        epoch = Math.max(1, at.epoch());
    }

    /** Records from here on carry a higher epoch (a takeover at the primary). */
    void raiseEpoch(long by) {
        epoch += by;
    }

    long epoch() {
        return epoch;
    }

    Position start() {
        return start;
    }

    /** The last record generated, or the start. */
    Position last() {
        return records.isEmpty() ? start : records.lastEntry().getValue().position();
    }

    /** The record of {@code seq}, generating it when it is the next one. */
    JournalRecord record(long seq) {
        JournalRecord r = records.get(seq);
        if (r != null) {
            return r;
        }
        if (seq != last().seq() + 1) {
            throw new IllegalArgumentException("the primary has no record of seq " + seq + "; its stream runs from " + start + " to " + last());
        }
        r = generate(new Position(epoch, seq));
        records.put(seq, r);
        return r;
    }

    /** The record that follows {@code p} in this stream. */
    JournalRecord after(Position p) {
        return record(p.seq() + 1);
    }

    /** The record at {@code p}, or null when the stream has no record there. */
    JournalRecord at(Position p) {
        JournalRecord r = records.get(p.seq());
        return r != null && r.position().equals(p) ? r : null;
    }

    private JournalRecord generate(Position p) {
        RecordKind kind = rnd.nextInt(10) < 7 ? RecordKind.WRITE : OTHER[rnd.nextInt(OTHER.length)];
        int volume = 1 + rnd.nextInt(3);
        long offset = (long) rnd.nextInt(64) * 4096 + (rnd.nextBoolean() ? 0 : rnd.nextInt(4096));
        int size = rnd.nextInt(12) == 0 ? rnd.nextInt(Fixture.MAX_RECORD + 1) : rnd.nextInt(5000);
        long time = T0 + p.seq() * 10 + rnd.nextInt(10);
        return switch (kind) {
            case WRITE -> new JournalRecord(Fixture.GROUP_ID, p, volume, offset, size, kind, time, Fixture.data(rnd.nextLong(), size));
            case MARKER -> {
                byte[] name = ("restart-" + p + "-" + rnd.nextInt(1000)).getBytes(StandardCharsets.UTF_8);
                yield new JournalRecord(Fixture.GROUP_ID, p, 0, 0, name.length, kind, time, ByteBuffer.wrap(name));
            }
            case FLUSH -> new JournalRecord(Fixture.GROUP_ID, p, 0, 0, 0, kind, time, null);
            default -> new JournalRecord(Fixture.GROUP_ID, p, volume, offset, size, kind, time, null);
        };
    }

    /** A WRITE of {@code size} bytes whose data depends on the position and {@code salt}. */
    static JournalRecord write(Position p, int size, long salt) {
        return new JournalRecord(Fixture.GROUP_ID, p, 1, p.seq() * 4096, size, RecordKind.WRITE, T0 + p.seq(),
                Fixture.data(salt * 1_000_003 + p.epoch() * 65_537 + p.seq(), size));
    }

    static JournalRecord flush(Position p) {
        return new JournalRecord(Fixture.GROUP_ID, p, 0, 0, 0, RecordKind.FLUSH, T0 + p.seq(), null);
    }

    /** Asserts that a record read back is the one sent, field by field and byte by byte. */
    static void assertSameRecord(JournalRecord actual, JournalRecord sent) {
        assertThat(actual.position()).as("position").isEqualTo(sent.position());
        assertThat(actual.groupId()).as("group id of %s", sent.position()).isEqualTo(Fixture.GROUP_ID);
        assertThat(actual.kind()).as("kind of %s", sent.position()).isEqualTo(sent.kind());
        assertThat(actual.volumeId()).as("volume of %s", sent.position()).isEqualTo(sent.volumeId());
        assertThat(actual.offset()).as("offset of %s", sent.position()).isEqualTo(sent.offset());
        assertThat(actual.length()).as("length of %s", sent.position()).isEqualTo(sent.length());
        assertThat(actual.time()).as("time of %s (the primary's)", sent.position()).isEqualTo(sent.time());
        assertThat(Fixture.bytes(actual.data())).as("data of %s", sent.position()).isEqualTo(Fixture.bytes(sent.data()));
    }
}
