package io.doppel.itests.harness;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Pattern;

/**
 * Edits Karaf's properties-style files ({@code etc/*.cfg}, {@code etc/system.properties}) in place:
 * the line of a key is replaced, or the key appended; comments and other keys stay as they are.
 */
final class ConfigFiles {

    private ConfigFiles() {
    }

    /** Sets {@code key = value} in {@code file} (created if missing). The value is written verbatim. */
    static void set(Path file, String key, String value) {
        if (key.isBlank() || key.chars().anyMatch(c -> c == '\n' || c == '\r' || c == '=' || c == ':'
                || Character.isWhitespace(c))) {
            throw new IllegalArgumentException("Invalid configuration key '" + key + "' for " + file
                    + ": it must be non-blank, without whitespace, '=' or ':'");
        }
        if (value.contains("\n") || value.contains("\r")) {
            throw new IllegalArgumentException("The value of " + key + " for " + file + " spans several lines");
        }
        Pattern keyLine = Pattern.compile("^\\s*" + Pattern.quote(key) + "\\s*[=:].*");
        String entry = key + " = " + value;
        List<String> lines = new ArrayList<>(readLines(file));
        boolean replaced = false;
        for (int i = 0; i < lines.size(); i++) {
            if (keyLine.matcher(lines.get(i)).matches() && !continued(lines, i)) {
                // drop the continuation lines of a multi-line value
                int last = i;
                while (last + 1 < lines.size() && endsWithContinuation(lines.get(last))) {
                    last++;
                }
                lines.subList(i + 1, last + 1).clear();
                lines.set(i, entry);
                replaced = true;
            }
        }
        if (!replaced) {
            lines.add(entry);
        }
        write(file, String.join("\n", lines) + "\n");
    }

    /** The value of {@code key} in {@code file}, read as Java properties (empty if the file or key is missing). */
    static Optional<String> get(Path file, String key) {
        Properties properties = new Properties();
        try {
            properties.load(new StringReader(String.join("\n", readLines(file))));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot parse " + file, e);
        }
        return Optional.ofNullable(properties.getProperty(key));
    }

    /** Replaces the whole content of {@code file}, atomically. */
    static void write(Path file, String content) {
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(temporary, content, StandardCharsets.UTF_8);
            Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write " + file, e);
        }
    }

    private static List<String> readLines(Path file) {
        try {
            return Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    /** Whether line {@code index} continues the previous one. */
    private static boolean continued(List<String> lines, int index) {
        return index > 0 && endsWithContinuation(lines.get(index - 1));
    }

    /** Whether a line ends with an odd number of backslashes, so that the next line continues it. */
    private static boolean endsWithContinuation(String line) {
        int backslashes = 0;
        for (int i = line.length() - 1; i >= 0 && line.charAt(i) == '\\'; i--) {
            backslashes++;
        }
        return backslashes % 2 == 1;
    }
}
