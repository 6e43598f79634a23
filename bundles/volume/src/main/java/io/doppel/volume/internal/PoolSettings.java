package io.doppel.volume.internal;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The validated configuration of the pool.
 *
 * @param directories       absolute, distinct, at least one
 * @param registryDirectory absolute
 */
record PoolSettings(List<Path> directories, Path registryDirectory) {

    PoolSettings {
        directories = List.copyOf(directories);
    }

    /** {@code ${karaf.base}/doppel/volumes}, as the feature ships it. */
    static PoolSettings defaults() {
        String base = System.getProperty("karaf.base", System.getProperty("user.dir"));
        Path dir = Path.of(base, "doppel", "volumes").toAbsolutePath().normalize();
        return new PoolSettings(List.of(dir), dir);
    }

    /**
     * Parses the configured values.
     *
     * @param directories       comma-separated absolute paths
     * @param registryDirectory absolute path, or blank for the first pool directory
     * @throws IllegalArgumentException naming every bad value and why
     */
    static PoolSettings parse(String directories, String registryDirectory) {
        List<String> problems = new ArrayList<>();
        Set<Path> dirs = new LinkedHashSet<>();
        if (directories == null || directories.isBlank()) {
            problems.add("directories is empty: name at least one pool directory");
        } else {
            for (String part : directories.split(",")) {
                String s = part.trim();
                if (s.isEmpty()) {
                    problems.add("directories '" + directories + "' has an empty entry");
                    continue;
                }
                Path p = path("directories", s, problems);
                if (p != null && !dirs.add(p)) {
                    problems.add("directories lists " + p + " twice");
                }
            }
        }
        Path registry = null;
        if (registryDirectory != null && !registryDirectory.isBlank()) {
            registry = path("registryDirectory", registryDirectory.trim(), problems);
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        List<Path> list = List.copyOf(dirs);
        return new PoolSettings(list, registry != null ? registry : list.get(0));
    }

    private static Path path(String key, String s, List<String> problems) {
        if (s.contains("${")) {
            problems.add(key + " entry '" + s + "' has an unresolved placeholder");
            return null;
        }
        try {
            Path p = Path.of(s);
            if (!p.isAbsolute()) {
                problems.add(key + " entry '" + s + "' is not an absolute path");
                return null;
            }
            return p.normalize();
        } catch (InvalidPathException e) {
            problems.add(key + " entry '" + s + "' is not a valid path: " + e.getReason());
            return null;
        }
    }
}
