package io.doppel.bitmap.internal;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.bitmap.DifferenceMaps;
import io.doppel.api.journal.Position;
import io.doppel.api.storage.Storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The difference maps of one directory, {@code <pairId>.map} each. A pair's map is loaded once
 * and the same live instance handed to every caller until the map is deleted or the store
 * closed, so that two callers never hold diverging copies of one file.
 */
public final class DifferenceMapStore implements DifferenceMaps {

    static final Pattern PAIR_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    static final String SUFFIX = ".map";

    private static final Logger LOG = LoggerFactory.getLogger(DifferenceMapStore.class);

    private final Storage storage;
    /** Guarded by this. */
    private Path directory;
    /** Guarded by this. */
    private final Map<String, RoaringDifferenceMap> live = new HashMap<>();
    /** Guarded by this. */
    private boolean closed;

    public DifferenceMapStore(Storage storage, Path directory) {
        this.storage = Objects.requireNonNull(storage, "storage");
        this.directory = Objects.requireNonNull(directory, "directory");
    }

    static String checkPairId(String pairId) {
        if (pairId == null || !PAIR_ID.matcher(pairId).matches()) {
            throw new IllegalArgumentException("pair id '" + pairId + "' is not valid: 1 to 128 letters, digits, '.', '_' or '-', "
                    + "starting with a letter or digit");
        }
        return pairId;
    }

    synchronized Path directory() {
        return directory;
    }

    /** Maps opened from now on live in {@code next}; open ones keep their file until deleted. */
    synchronized void reconfigure(Path next) {
        directory = Objects.requireNonNull(next, "directory");
    }

    @Override
    public synchronized DifferenceMap open(String pairId) throws IOException {
        checkPairId(pairId);
        if (closed) {
            throw new IOException("the difference map store of " + directory + " is closed");
        }
        RoaringDifferenceMap map = live.get(pairId);
        if (map == null) {
            map = load(pairId, directory.resolve(pairId + SUFFIX));
            live.put(pairId, map);
        }
        return map;
    }

    private RoaringDifferenceMap load(String pairId, Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = storage.exists(file) ? storage.readAll(file) : null;
        } catch (NoSuchFileException e) {
            bytes = null;
        }
        if (bytes == null) {
            return new RoaringDifferenceMap(pairId, file, storage, Position.ZERO, new TreeMap<>());
        }
        MapFile.Content c = MapFile.decode(bytes, file);
        RoaringDifferenceMap map = new RoaringDifferenceMap(pairId, file, storage, c.covered(), c.volumes());
        LOG.debug("Opened the difference map of pair {}: {} blocks in {} volumes, covers through {}", pairId, map.blocks(),
                c.volumes().size(), c.covered());
        return map;
    }

    @Override
    public synchronized void delete(String pairId) throws IOException {
        checkPairId(pairId);
        RoaringDifferenceMap map = live.remove(pairId);
        if (map != null) {
            map.retire("was deleted");
            storage.deleteIfExists(map.file());
        }
        storage.deleteIfExists(directory.resolve(pairId + SUFFIX));
    }

    @Override
    public synchronized List<String> list() throws IOException {
        TreeSet<String> pairs = new TreeSet<>();
        for (Path p : storage.list(directory)) {
            String name = p.getFileName().toString();
            if (name.endsWith(SUFFIX)) {
                String pair = name.substring(0, name.length() - SUFFIX.length());
                if (PAIR_ID.matcher(pair).matches()) {
                    pairs.add(pair);
                }
            }
        }
        // Maps opened before the directory changed still live in the former one.
        for (RoaringDifferenceMap m : live.values()) {
            if (storage.exists(m.file())) {
                pairs.add(m.pairId());
            }
        }
        return new ArrayList<>(pairs);
    }

    /** Retires every live map: instances handed out can no longer write their file. */
    synchronized void close() {
        closed = true;
        for (RoaringDifferenceMap m : live.values()) {
            m.retire("belongs to a stopped difference map service");
        }
        live.clear();
    }
}
