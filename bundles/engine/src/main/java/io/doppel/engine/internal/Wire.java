package io.doppel.engine.internal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.transport.Frame;

/**
 * The replication protocol between a pair's primary and secondary, carried in transport
 * frames (which add the version, length and CRC32C). Every message starts with the protocol
 * version and the pair id; a message of another version is refused naming both.
 *
 * <pre>
 * OPEN        p→s  pair setup: group, mode, volumes; reply: the secondary's journal head, flags
 * PUSH        p→s  records in seq order (pushed modes); reply: ACK
 * FORCE       p→s  make the journal durable through a position; reply: ACK
 * PULL        s→p  records after a position (pulled modes); reply: RECORDS or GAP
 * RESYNC_BEGIN p→s the secondary rebases its journal to the stream's start; whether the pass
 *                  copies every block (a journal-only secondary relays it to peers that need
 *                  a whole copy); reply: ACK
 * RESYNC_DATA p→s  blocks tagged with the primary's head when read; reply: ACK
 * RESYNC_END  p→s  the pass ended at a position; reply: ACK (volumes forced)
 * OUTDATED    p→s  the secondary lacks acknowledged writes (or no longer does)
 * CLOSE       p→s  the pair is deleted
 * RESIZE      p→s  grow a target volume before the source grows
 * RESYNC_WANTED s→p a journal-only secondary asks for a pass of every block (one of its own
 *                  peers needs a whole copy, which only the source's volumes can give)
 * HANDOVER    p→s  planned failback: the primary stopped its writes at a position; the
 *                  secondary holding it becomes the primary
 * SUPERSEDED  reply  from the pair's primary of a later reign (a takeover) to any message of
 *                  the pair from a former primary: its reign epoch and site
 * </pre>
 */
final class Wire {

    /**
     * 2: RECORDS carries the primary's load. 3: RESYNC_BEGIN says whether it is whole;
     * RESYNC_WANTED. 4: OPEN carries the primary's reign, head and history, its reply the fork;
     * SUPERSEDED. 5: RESYNC_MARK.
     */
    static final int VERSION = 5;

    static final int OPEN = 100;
    static final int PUSH = 101;
    static final int FORCE = 102;
    static final int PULL = 103;
    static final int RESYNC_BEGIN = 104;
    static final int RESYNC_DATA = 105;
    static final int RESYNC_END = 106;
    static final int OUTDATED = 107;
    static final int CLOSE = 108;
    static final int RESIZE = 109;
    static final int RESYNC_WANTED = 110;
    static final int HANDOVER = 112;
    /**
     * During a pass: the target makes every block it got so far durable and answers whether it
     * keeps them (a journal-only site relays them and does not); the primary then forgets them,
     * so that a pass broken later resumes from what is left.
     */
    static final int RESYNC_MARK = 113;
    static final int REPLY = 150;
    /**
     * The reply of a site that is the pair's primary in a later reign to a message of the pair
     * from its former primary: the receiver stops accepting writes and becomes the secondary.
     */
    static final int SUPERSEDED = 151;

    static final int[] TYPES = {OPEN, PUSH, FORCE, PULL, RESYNC_BEGIN, RESYNC_DATA, RESYNC_END, OUTDATED, CLOSE, RESIZE,
        RESYNC_WANTED, HANDOVER, RESYNC_MARK};
    /**
     * {@link #TYPES} as the frame handler's service property (a constant, for the component
     * annotation); a test keeps the two equal, so that no new type goes unregistered.
     */
    static final String TYPE_LIST = "100,101,102,103,104,105,106,107,108,109,110,112,113";

    /** Fixed part of an encoded record: epoch, seq, volume, offset, length, kind, time, data length. */
    private static final int RECORD_HEADER = 8 + 8 + 4 + 8 + 8 + 2 + 8 + 4;

    private Wire() {
    }

    // ---- building ------------------------------------------------------------------------

    /** A growable buffer for one message. */
    static final class Out {
        private ByteBuffer b;

        Out(int type, String pairId, int sizeHint) {
            b = ByteBuffer.allocate(Math.max(64, sizeHint + 64 + pairId.length() * 3));
            this.type = type;
            putShort(VERSION);
            putString(pairId);
        }

        private final int type;

        private void ensure(int n) {
            if (b.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n + 64));
                b.flip();
                bigger.put(b);
                b = bigger;
            }
        }

        Out putShort(int v) {
            ensure(2);
            b.putShort((short) v);
            return this;
        }

        Out putInt(int v) {
            ensure(4);
            b.putInt(v);
            return this;
        }

        Out putLong(long v) {
            ensure(8);
            b.putLong(v);
            return this;
        }

        Out putBoolean(boolean v) {
            ensure(1);
            b.put((byte) (v ? 1 : 0));
            return this;
        }

        Out putPosition(Position p) {
            return putLong(p.epoch()).putLong(p.seq());
        }

        Out putString(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            putInt(bytes.length);
            ensure(bytes.length);
            b.put(bytes);
            return this;
        }

        Out putBytes(ByteBuffer data) {
            ByteBuffer d = data.duplicate();
            putInt(d.remaining());
            ensure(d.remaining());
            b.put(d);
            return this;
        }

        Out putRecord(JournalRecord r) {
            ByteBuffer d = r.data().duplicate();
            ensure(RECORD_HEADER + d.remaining());
            b.putLong(r.position().epoch()).putLong(r.position().seq()).putInt(r.volumeId()).putLong(r.offset())
                    .putLong(r.length()).putShort((short) r.kind().code()).putLong(r.time()).putInt(d.remaining());
            b.put(d);
            return this;
        }

        Out putRecord(Position pos, RecordKind kind, int volumeId, long offset, long length, long time, ByteBuffer data) {
            ByteBuffer d = data == null ? ByteBuffer.allocate(0) : data.duplicate();
            ensure(RECORD_HEADER + d.remaining());
            b.putLong(pos.epoch()).putLong(pos.seq()).putInt(volumeId).putLong(offset).putLong(length)
                    .putShort((short) kind.code()).putLong(time).putInt(d.remaining());
            b.put(d);
            return this;
        }

        Frame frame() {
            ByteBuffer p = b.duplicate();
            p.flip();
            return new Frame(type, p);
        }
    }

    static int recordBytes(JournalRecord r) {
        return RECORD_HEADER + r.data().remaining();
    }

    // ---- reading -------------------------------------------------------------------------

    /** A message being read; {@link #pairId} is read first. */
    static final class In {
        final ByteBuffer b;
        final String pairId;

        In(Frame f) {
            this.b = f.payload().duplicate();
            int v = b.getShort() & 0xffff;
            if (v != VERSION) {
                throw new IllegalArgumentException("replication protocol version " + v
                        + " is not supported; this site speaks version " + VERSION);
            }
            this.pairId = getString();
        }

        int getShort() {
            return b.getShort();
        }

        int getInt() {
            return b.getInt();
        }

        long getLong() {
            return b.getLong();
        }

        boolean getBoolean() {
            return b.get() != 0;
        }

        Position getPosition() {
            return new Position(b.getLong(), b.getLong());
        }

        String getString() {
            int n = b.getInt();
            if (n < 0 || n > b.remaining()) {
                throw new IllegalArgumentException("garbled message: string of " + n + " bytes");
            }
            byte[] bytes = new byte[n];
            b.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }

        ByteBuffer getBytes() {
            int n = b.getInt();
            if (n < 0 || n > b.remaining()) {
                throw new IllegalArgumentException("garbled message: " + n + " bytes of data");
            }
            ByteBuffer d = b.slice();
            d.limit(n);
            b.position(b.position() + n);
            return d;
        }

        JournalRecord getRecord(int groupId) {
            Position pos = getPosition();
            int vol = b.getInt();
            long offset = b.getLong();
            long length = b.getLong();
            RecordKind kind = RecordKind.ofCode(b.getShort());
            long time = b.getLong();
            int n = b.getInt();
            if (n < 0 || n > b.remaining()) {
                throw new IllegalArgumentException("garbled message: record " + pos + " with " + n + " bytes of data");
            }
            ByteBuffer d = b.slice();
            d.limit(n);
            b.position(b.position() + n);
            return new JournalRecord(groupId, pos, vol, offset, length, kind, time, d);
        }

        List<JournalRecord> getRecords(int groupId) {
            int n = b.getInt();
            if (n < 0 || n > b.remaining()) {
                throw new IllegalArgumentException("garbled message: " + n + " records in " + b.remaining() + " bytes");
            }
            List<JournalRecord> out = new ArrayList<>(Math.min(n, 1024));
            for (int i = 0; i < n; i++) {
                out.add(getRecord(groupId));
            }
            return out;
        }

        boolean hasMore() {
            return b.hasRemaining();
        }
    }

    /** One entry of RESYNC_DATA: {@code count} blocks from {@code first}, read at {@code tag}; null data is zeros. */
    record Blocks(int volumeId, long first, int count, Position tag, ByteBuffer data) {

        static Blocks read(In in) {
            int volumeId = in.getInt();
            long first = in.getLong();
            int count = in.getInt();
            Position tag = in.getPosition();
            boolean zero = in.getBoolean();
            return new Blocks(volumeId, first, count, tag, zero ? null : in.getBytes());
        }

        Blocks withVolume(int id) {
            return new Blocks(id, first, count, tag, data);
        }

        int bytes() {
            return data == null ? 0 : data.remaining();
        }

        void put(Out o) {
            o.putInt(volumeId).putLong(first).putInt(count).putPosition(tag).putBoolean(data == null);
            if (data != null) {
                o.putBytes(data);
            }
        }
    }

    /** Who rules a group's copy: the epoch of its last record and the site that opened it. */
    record Reign(long epoch, String site) implements Comparable<Reign> {

        static Reign of(List<EpochEntry> history, Position head) {
            long e = ForkPoint.epochAt(history, head.seq());
            String site = "";
            for (EpochEntry x : history) {
                if (x.epoch() == e) {
                    site = x.siteId();
                }
            }
            return new Reign(e, site);
        }

        @Override
        public int compareTo(Reign o) {
            int c = Long.compare(epoch, o.epoch);
            return c != 0 ? c : site.compareTo(o.site);
        }

        @Override
        public String toString() {
            return "epoch " + epoch + (site.isEmpty() ? "" : " of " + site);
        }
    }

    static Out putHistory(Out o, List<EpochEntry> history) {
        o.putInt(history.size());
        for (EpochEntry x : history) {
            o.putLong(x.epoch()).putString(x.siteId()).putLong(x.firstSeq()).putLong(x.previousLastSeq());
        }
        return o;
    }

    static List<EpochEntry> getHistory(In in) {
        int n = in.getInt();
        if (n < 0 || n > 1_000_000) {
            throw new IllegalArgumentException("garbled message: a history of " + n + " epochs");
        }
        List<EpochEntry> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new EpochEntry(in.getLong(), in.getString(), in.getLong(), in.getLong()));
        }
        return out;
    }

    /** One volume as OPEN names it. */
    record OpenVolume(int sourceId, String name, long size) {
    }

    /**
     * OPEN: the pair's settings and volumes, and (version 4) the primary's reign, head and
     * history, from which the secondary computes where their histories part.
     */
    record Open(String group, String mode, String policy, String site, boolean outdated, List<OpenVolume> volumes,
                Reign reign, Position head, List<EpochEntry> history, boolean keepPrimary) {

        static Open read(In in) {
            String group = in.getString();
            String mode = in.getString();
            String policy = in.getString();
            String site = in.getString();
            boolean outdated = in.getBoolean();
            int n = in.getInt();
            if (n < 0 || n > 65_536) {
                throw new IllegalArgumentException("garbled message: OPEN names " + n + " volumes");
            }
            List<OpenVolume> vols = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                vols.add(new OpenVolume(in.getInt(), in.getString(), in.getLong()));
            }
            Reign reign = new Reign(in.getLong(), in.getString());
            Position head = in.getPosition();
            List<EpochEntry> history = getHistory(in);
            // the operator resolved a split-brain keeping the primary's side (doppel:resolve)
            boolean keepPrimary = in.getBoolean();
            return new Open(group, mode, policy, site, outdated, vols, reign, head, history, keepPrimary);
        }
    }

    /** SUPERSEDED: this site rules the pair in {@code reign}. */
    static Frame superseded(String pairId, Reign reign, String why) {
        return new Out(SUPERSEDED, pairId, 64 + why.length() * 3).putLong(reign.epoch()).putString(reign.site())
                .putString(why).frame();
    }

    // ---- messages ------------------------------------------------------------------------

    /** A volume in OPEN: the source's id, its name and size. */
    record VolumeSpec(int sourceId, String name, long size) {
    }

    /** The secondary's answer to OPEN and to every record-carrying request. */
    record Ack(Position journaled, Position durable, Position applied, boolean consistent, boolean outdated) {

        Frame frame(String pairId) {
            return out(pairId).frame();
        }

        /** The ack as a REPLY still open for more fields (RESYNC_MARK adds one). */
        Out out(String pairId) {
            return new Out(REPLY, pairId, 64).putPosition(journaled).putPosition(durable).putPosition(applied)
                    .putBoolean(consistent).putBoolean(outdated);
        }

        static Ack read(Frame f) {
            return read(new In(f));
        }

        /** Reads the ack's fields; {@code in} is left at what follows them. */
        static Ack read(In in) {
            return new Ack(in.getPosition(), in.getPosition(), in.getPosition(), in.getBoolean(), in.getBoolean());
        }
    }

    /** What a PULL returns. */
    record Records(List<JournalRecord> records, boolean gap, Position retainedStart, Position head, boolean more,
                   long journalUsed, long journalCapacity, double load) {
    }

    static Frame records(String pairId, List<JournalRecord> records, int bytes, boolean gap, Position retainedStart,
                         Position head, boolean more, long used, long capacity, double load) {
        // the load travels in thousandths, clamped, so a garbled value cannot mean more than saturated
        Out o = new Out(REPLY, pairId, bytes + 128).putBoolean(gap).putPosition(retainedStart).putPosition(head)
                .putBoolean(more).putLong(used).putLong(capacity).putShort((int) Math.round(Math.max(0, Math.min(1, load)) * 1000))
                .putInt(records.size());
        for (JournalRecord r : records) {
            o.putRecord(r);
        }
        return o.frame();
    }

    static Records readRecords(Frame f, int groupId) {
        In in = new In(f);
        boolean gap = in.getBoolean();
        Position retained = in.getPosition();
        Position head = in.getPosition();
        boolean more = in.getBoolean();
        long used = in.getLong();
        long cap = in.getLong();
        int permille = in.getShort();
        if (permille < 0 || permille > 1000) {
            throw new IllegalArgumentException("primary load " + permille + "/1000 is out of range");
        }
        return new Records(in.getRecords(groupId), gap, retained, head, more, used, cap, permille / 1000.0);
    }

    /** An empty reply. */
    static Frame ok(String pairId) {
        return new Out(REPLY, pairId, 0).frame();
    }
}
