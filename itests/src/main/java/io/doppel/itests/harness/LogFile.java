package io.doppel.itests.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A log file an appliance writes ({@code data/log/karaf.log}, the console log). Reads are
 * snapshots: a missing file reads as empty.
 */
public final class LogFile {

    private final Path path;

    public LogFile(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    /** The whole file as text. */
    public String text() {
        return Processes.read(path);
    }

    public List<String> lines() {
        return text().lines().toList();
    }

    /** Lines containing a match of {@code regex} (Java syntax, found anywhere in the line). */
    public List<String> grep(String regex) {
        Pattern pattern = Pattern.compile(regex);
        return lines().stream().filter(line -> pattern.matcher(line).find()).toList();
    }

    public boolean contains(String regex) {
        return !grep(regex).isEmpty();
    }

    /** The last {@code count} lines. */
    public List<String> tail(int count) {
        List<String> lines = lines();
        return lines.subList(Math.max(0, lines.size() - count), lines.size());
    }

    /** The current size in bytes; pass it to {@link #textSince} to read only what comes after. */
    public long size() {
        try {
            return Files.exists(path) ? Files.size(path) : 0;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the size of " + path, e);
        }
    }

    /** What was written after the file had {@code offset} bytes (all of it if it has been rolled over since). */
    public String textSince(long offset) {
        byte[] bytes;
        try {
            bytes = Files.exists(path) ? Files.readAllBytes(path) : new byte[0];
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + path, e);
        }
        int from = offset <= 0 || offset > bytes.length ? 0 : (int) offset;
        return new String(bytes, from, bytes.length - from, StandardCharsets.UTF_8);
    }

    /** Lines written after the file had {@code offset} bytes that contain a match of {@code regex}. */
    public List<String> grepSince(long offset, String regex) {
        Pattern pattern = Pattern.compile(regex);
        return textSince(offset).lines().filter(line -> pattern.matcher(line).find()).toList();
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
