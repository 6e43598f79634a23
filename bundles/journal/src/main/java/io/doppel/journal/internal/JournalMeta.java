package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Position;

/**
 * The contents of {@code journal.meta}, written with {@code Storage.writeAtomically}.
 *
 * <pre>
 * int magic "DJMT", short version, short 0, int group id, byte clean shutdown,
 * long checkpoint epoch, long checkpoint seq, long retained-start epoch, long retained-start seq,
 * long oldest retained segment index,
 * int epochs, each: long epoch, long first seq, long previous last seq, string site id,
 * int cursors, each: string consumer, long epoch, long seq,
 * int CRC32C of everything before it
 * </pre>
 * Strings are a short byte count and UTF-8.
 *
 * @param oldestSegment index of the oldest segment that holds retained records (or the next one to be written)
 */
record JournalMeta(int groupId, boolean cleanShutdown, Position checkpoint, Position retainedStart, long oldestSegment,
                   List<EpochEntry> history, Map<String, Position> cursors) {

    static final int MAGIC = 0x444A4D54;
    static final int VERSION = 1;

    JournalMeta {
        history = List.copyOf(history);
        cursors = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(cursors));
    }

    ByteBuffer encode() {
        int size = 4 + 2 + 2 + 4 + 1 + 5 * 8 + 4 + 4 + 4;
        List<byte[]> sites = new ArrayList<>();
        for (EpochEntry e : history) {
            byte[] s = utf8(e.siteId(), "site id");
            sites.add(s);
            size += 3 * 8 + 2 + s.length;
        }
        List<byte[]> names = new ArrayList<>();
        for (String c : cursors.keySet()) {
            byte[] s = utf8(c, "cursor name");
            names.add(s);
            size += 2 + s.length + 2 * 8;
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(MAGIC).putShort((short) VERSION).putShort((short) 0).putInt(groupId).put((byte) (cleanShutdown ? 1 : 0));
        b.putLong(checkpoint.epoch()).putLong(checkpoint.seq()).putLong(retainedStart.epoch()).putLong(retainedStart.seq());
        b.putLong(oldestSegment);
        b.putInt(history.size());
        for (int i = 0; i < history.size(); i++) {
            EpochEntry e = history.get(i);
            b.putLong(e.epoch()).putLong(e.firstSeq()).putLong(e.previousLastSeq());
            b.putShort((short) sites.get(i).length).put(sites.get(i));
        }
        b.putInt(cursors.size());
        int i = 0;
        for (Position p : cursors.values()) {
            b.putShort((short) names.get(i).length).put(names.get(i));
            b.putLong(p.epoch()).putLong(p.seq());
            i++;
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.flip();
    }

    static JournalMeta decode(byte[] bytes, String where) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        try {
            if (bytes.length < 8 || b.getInt() != MAGIC) {
                throw new IOException("journal metadata " + where + " is not a Doppel journal metadata file (bad magic)");
            }
            int version = b.getShort() & 0xFFFF;
            if (version != VERSION) {
                throw new UnsupportedVersionException("journal metadata " + where + " has format version " + version
                        + "; this journal bundle reads version " + VERSION);
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            if ((int) crc.getValue() != ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt()) {
                throw new IOException("journal metadata " + where + " fails its CRC32C check");
            }
            b.getShort();
            int groupId = b.getInt();
            boolean clean = b.get() != 0;
            Position checkpoint = new Position(b.getLong(), b.getLong());
            Position retained = new Position(b.getLong(), b.getLong());
            long oldest = b.getLong();
            int n = b.getInt();
            List<EpochEntry> history = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long epoch = b.getLong();
                long first = b.getLong();
                long prev = b.getLong();
                history.add(new EpochEntry(epoch, string(b), first, prev));
            }
            int c = b.getInt();
            Map<String, Position> cursors = new LinkedHashMap<>();
            for (int i = 0; i < c; i++) {
                String name = string(b);
                cursors.put(name, new Position(b.getLong(), b.getLong()));
            }
            if (b.remaining() != 4) {
                throw new IOException("journal metadata " + where + " has " + (b.remaining() - 4) + " unexpected trailing bytes");
            }
            if (history.isEmpty()) {
                throw new IOException("journal metadata " + where + " has no epoch history");
            }
            return new JournalMeta(groupId, clean, checkpoint, retained, oldest, history, cursors);
        } catch (java.nio.BufferUnderflowException | IllegalArgumentException e) {
            throw new IOException("journal metadata " + where + " is malformed: " + e, e);
        }
    }

    private static byte[] utf8(String s, String what) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > Short.MAX_VALUE) {
            throw new IllegalArgumentException(what + " is longer than " + Short.MAX_VALUE + " bytes");
        }
        return b;
    }

    private static String string(ByteBuffer b) {
        int len = b.getShort();
        if (len < 0) {
            throw new IllegalArgumentException("negative string length");
        }
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
