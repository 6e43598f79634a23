package io.doppel.transport.internal;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.zip.CRC32C;

import io.doppel.api.storage.Storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trusted peers, persisted in one small file written with {@link Storage#writeAtomically}.
 *
 * <p>Format (big endian): magic "DPER", format version (u16), peer count (u32), then per
 * peer: name, address, fingerprint, site id, each as u16 length and UTF-8 bytes; finally the
 * CRC32C of everything before it (u32).
 *
 * <p>Readers see an immutable snapshot that a change replaces whole.
 */
final class PeerRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(PeerRegistry.class);

    static final int MAGIC = 0x44504552; // "DPER"
    static final int VERSION = 1;

    private final Storage storage;
    private final Path file;
    private volatile Map<String, PeerEntry> peers = Map.of();

    PeerRegistry(Storage storage, Path file) {
        this.storage = storage;
        this.file = file;
    }

    Path file() {
        return file;
    }

    /** Reads the file, or starts empty when there is none yet (it is written at the first change). */
    synchronized void load() throws IOException {
        if (!storage.exists(file)) {
            peers = Map.of();
            LOG.info("No peer registry at {} yet: no peers are trusted", file);
            return;
        }
        peers = Collections.unmodifiableMap(decode(file, storage.readAll(file)));
        LOG.debug("Loaded {} peers from {}", peers.size(), file);
    }

    List<PeerEntry> list() {
        return new ArrayList<>(peers.values());
    }

    Optional<PeerEntry> find(String name) {
        return Optional.ofNullable(peers.get(name));
    }

    Optional<PeerEntry> byFingerprint(String fingerprint) {
        return peers.values().stream().filter(p -> p.fingerprint().equals(fingerprint)).findFirst();
    }

    /** @throws IllegalArgumentException when the name or the fingerprint is taken */
    synchronized void add(PeerEntry peer) throws IOException {
        if (peers.containsKey(peer.name())) {
            throw new IllegalArgumentException("peer " + peer.name() + " already exists; remove it first"
                    + " (doppel:peer-remove " + peer.name() + ")");
        }
        Optional<PeerEntry> same = byFingerprint(peer.fingerprint());
        if (same.isPresent()) {
            throw new IllegalArgumentException("fingerprint " + peer.fingerprint() + " already belongs to peer "
                    + same.get().name());
        }
        Map<String, PeerEntry> next = new TreeMap<>(peers);
        next.put(peer.name(), peer);
        persist(next);
        peers = Collections.unmodifiableMap(next);
    }

    /** @throws IllegalArgumentException when there is no such peer */
    synchronized PeerEntry remove(String name) throws IOException {
        PeerEntry old = peers.get(name);
        if (old == null) {
            throw new IllegalArgumentException("peer " + name + " does not exist");
        }
        Map<String, PeerEntry> next = new TreeMap<>(peers);
        next.remove(name);
        persist(next);
        peers = Collections.unmodifiableMap(next);
        return old;
    }

    /** Records the site id a peer announced; false when the peer is gone or the id is unchanged. */
    synchronized boolean updateSiteId(String name, String siteId) throws IOException {
        PeerEntry old = peers.get(name);
        if (old == null || old.siteId().equals(siteId)) {
            return false;
        }
        Map<String, PeerEntry> next = new TreeMap<>(peers);
        next.put(name, old.withSiteId(siteId));
        persist(next);
        peers = Collections.unmodifiableMap(next);
        return true;
    }

    private void persist(Map<String, PeerEntry> content) throws IOException {
        try {
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null) {
                storage.createDirectories(dir);
            }
            storage.writeAtomically(file, encode(content.values()));
        } catch (IOException e) {
            throw new IOException("cannot write peer registry " + file + ": " + e.getMessage(), e);
        }
    }

    static ByteBuffer encode(Collection<PeerEntry> peers) {
        List<byte[][]> encoded = new ArrayList<>();
        int size = 4 + 2 + 4 + 4;
        for (PeerEntry p : peers) {
            byte[][] strings = {utf8(p.name()), utf8(p.address()), utf8(p.fingerprint()), utf8(p.siteId())};
            for (byte[] s : strings) {
                size += 2 + s.length;
            }
            encoded.add(strings);
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(MAGIC).putShort((short) VERSION).putInt(peers.size());
        for (byte[][] strings : encoded) {
            for (byte[] s : strings) {
                b.putShort((short) s.length).put(s);
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.flip();
    }

    static Map<String, PeerEntry> decode(Path file, byte[] data) throws IOException {
        if (data.length < 14) {
            throw new IOException("peer registry " + file + " is truncated: " + data.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(data);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new IOException(String.format("%s is not a peer registry: magic 0x%08x, expected 0x%08x",
                    file, magic, MAGIC));
        }
        int version = Short.toUnsignedInt(b.getShort());
        if (version != VERSION) {
            throw new IOException("peer registry " + file + " has format version " + version
                    + "; this bundle reads version " + VERSION);
        }
        CRC32C crc = new CRC32C();
        crc.update(data, 0, data.length - 4);
        int stored = ByteBuffer.wrap(data, data.length - 4, 4).getInt();
        if (stored != (int) crc.getValue()) {
            throw new IOException(String.format("peer registry %s is damaged: CRC32C 0x%08x, expected 0x%08x",
                    file, (int) crc.getValue(), stored));
        }
        Map<String, PeerEntry> out = new TreeMap<>();
        try {
            ByteBuffer body = ByteBuffer.wrap(data, 0, data.length - 4);
            body.position(6);
            long count = Integer.toUnsignedLong(body.getInt());
            for (long i = 0; i < count; i++) {
                PeerEntry p = new PeerEntry(getString(body), getString(body), getString(body), getString(body));
                if (out.put(p.name(), p) != null) {
                    throw new IOException("peer registry " + file + " holds peer " + p.name() + " twice");
                }
            }
            if (body.hasRemaining()) {
                throw new IOException("peer registry " + file + " has " + body.remaining()
                        + " bytes after its last peer");
            }
        } catch (BufferUnderflowException e) {
            throw new IOException("peer registry " + file + " is malformed: it ends inside a peer", e);
        }
        return out;
    }

    private static byte[] utf8(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 0xffff) {
            throw new IllegalArgumentException("string of " + bytes.length + " bytes is too long for the registry");
        }
        return bytes;
    }

    private static String getString(ByteBuffer b) {
        int len = Short.toUnsignedInt(b.getShort());
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
