package io.doppel.nbd.internal;

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
 * The exports, persisted in one small file written with {@link Storage#writeAtomically}.
 *
 * <p>Format (big endian): magic "DNBX", format version (u16), export count (u32), then per
 * export: name, volume, snapshot ("" for none), flags (u8, bit 0 read-only), description,
 * each string as u16 length and UTF-8 bytes; finally the CRC32C of everything before it (u32).
 *
 * <p>Readers see an immutable snapshot that a change replaces whole.
 */
final class ExportRegistry {

    private static final Logger LOG = LoggerFactory.getLogger(ExportRegistry.class);

    static final int MAGIC = 0x444e4258; // "DNBX"
    static final int VERSION = 1;
    private static final int FLAG_READ_ONLY = 1;

    private final Storage storage;
    private final Path file;
    private volatile Map<String, Export> exports = Map.of();

    ExportRegistry(Storage storage, Path file) {
        this.storage = storage;
        this.file = file;
    }

    Path file() {
        return file;
    }

    /**
     * Reads the file, or creates it holding {@code defaultExport} (a read-write export of the
     * volume of the same name) when it does not exist yet.
     *
     * @param defaultExport the first export's name, or "" to start with none
     */
    synchronized void load(String defaultExport) throws IOException {
        if (!storage.exists(file)) {
            Map<String, Export> initial = new TreeMap<>();
            if (!defaultExport.isEmpty()) {
                initial.put(defaultExport, new Export(defaultExport, defaultExport, null, false, ""));
            }
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null) {
                storage.createDirectories(dir);
            }
            persist(initial);
            exports = Collections.unmodifiableMap(initial);
            LOG.info("Created export registry {} with {}", file,
                    initial.isEmpty() ? "no exports" : "export " + defaultExport);
            return;
        }
        exports = Collections.unmodifiableMap(decode(file, storage.readAll(file)));
        LOG.debug("Loaded {} exports from {}", exports.size(), file);
    }

    List<Export> list() {
        return new ArrayList<>(exports.values());
    }

    Optional<Export> find(String name) {
        return Optional.ofNullable(exports.get(name));
    }

    synchronized void add(Export export) throws IOException {
        if (exports.containsKey(export.name())) {
            throw new IllegalArgumentException("export " + export.name() + " already exists");
        }
        Map<String, Export> next = new TreeMap<>(exports);
        next.put(export.name(), export);
        persist(next);
        exports = Collections.unmodifiableMap(next);
    }

    synchronized Export remove(String name) throws IOException {
        Export old = exports.get(name);
        if (old == null) {
            throw new IllegalArgumentException("export " + name + " does not exist");
        }
        Map<String, Export> next = new TreeMap<>(exports);
        next.remove(name);
        persist(next);
        exports = Collections.unmodifiableMap(next);
        return old;
    }

    private void persist(Map<String, Export> content) throws IOException {
        try {
            storage.writeAtomically(file, encode(content.values()));
        } catch (IOException e) {
            throw new IOException("cannot write export registry " + file + ": " + e.getMessage(), e);
        }
    }

    static ByteBuffer encode(Collection<Export> exports) {
        List<byte[][]> encoded = new ArrayList<>();
        int size = 4 + 2 + 4 + 4;
        for (Export e : exports) {
            byte[][] strings = {utf8(e.name()), utf8(e.volume()), utf8(e.snapshot() == null ? "" : e.snapshot()),
                    utf8(e.description())};
            for (byte[] s : strings) {
                size += 2 + s.length;
            }
            size += 1;
            encoded.add(strings);
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(MAGIC).putShort((short) VERSION).putInt(exports.size());
        int i = 0;
        for (Export e : exports) {
            byte[][] strings = encoded.get(i++);
            putString(b, strings[0]);
            putString(b, strings[1]);
            putString(b, strings[2]);
            b.put((byte) (e.readOnly() ? FLAG_READ_ONLY : 0));
            putString(b, strings[3]);
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.flip();
    }

    static Map<String, Export> decode(Path file, byte[] data) throws IOException {
        if (data.length < 14) {
            throw new IOException("export registry " + file + " is truncated: " + data.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(data);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new IOException(String.format("%s is not an export registry: magic 0x%08x, expected 0x%08x",
                    file, magic, MAGIC));
        }
        int version = Short.toUnsignedInt(b.getShort());
        if (version != VERSION) {
            throw new IOException("export registry " + file + " has format version " + version
                    + "; this bundle reads version " + VERSION);
        }
        CRC32C crc = new CRC32C();
        crc.update(data, 0, data.length - 4);
        int stored = ByteBuffer.wrap(data, data.length - 4, 4).getInt();
        if (stored != (int) crc.getValue()) {
            throw new IOException(String.format("export registry %s is damaged: CRC32C 0x%08x, expected 0x%08x",
                    file, (int) crc.getValue(), stored));
        }
        Map<String, Export> out = new TreeMap<>();
        try {
            ByteBuffer body = ByteBuffer.wrap(data, 0, data.length - 4);
            body.position(6);
            long count = Integer.toUnsignedLong(body.getInt());
            for (long i = 0; i < count; i++) {
                String name = getString(body);
                String volume = getString(body);
                String snapshot = getString(body);
                int flags = body.get();
                String description = getString(body);
                Export e = new Export(name, volume, snapshot.isEmpty() ? null : snapshot,
                        (flags & FLAG_READ_ONLY) != 0, description);
                if (out.put(name, e) != null) {
                    throw new IOException("export registry " + file + " holds export " + name + " twice");
                }
            }
            if (body.hasRemaining()) {
                throw new IOException("export registry " + file + " has " + body.remaining()
                        + " bytes after its last export");
            }
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new IOException("export registry " + file + " is malformed: "
                    + (e.getMessage() == null ? "it ends inside an export" : e.getMessage()), e);
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

    private static void putString(ByteBuffer b, byte[] s) {
        b.putShort((short) s.length).put(s);
    }

    private static String getString(ByteBuffer b) {
        int len = Short.toUnsignedInt(b.getShort());
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
