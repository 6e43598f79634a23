package io.doppel.bitmap.internal;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the configuration's text into a directory. A bad value is reported (key, value, rule)
 * and the previous value kept, so a typo never stops the service.
 */
final class BitmapConfig {

    private static final Pattern PROPERTY = Pattern.compile("\\$\\{([^}]+)}");

    /** What {@link #resolve} produced, with one message per rejected value. */
    record Outcome(Path directory, List<String> errors) {
    }

    private BitmapConfig() {
    }

    static Path defaultDirectory() {
        return Path.of(substitute(DifferenceMapsComponent.DEFAULT_DIRECTORY)).toAbsolutePath().normalize();
    }

    static Outcome resolve(String directory, Path previous) {
        List<String> errors = new ArrayList<>();
        Path dir = previous;
        try {
            if (directory == null || directory.isBlank()) {
                throw new IllegalArgumentException("a directory is required");
            }
            dir = Path.of(substitute(directory.trim())).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            errors.add(rejected("directory", directory, "not a path: " + e.getMessage(), previous.toString()));
        } catch (IllegalArgumentException e) {
            errors.add(rejected("directory", directory, e.getMessage(), previous.toString()));
        }
        return new Outcome(dir, List.copyOf(errors));
    }

    private static String rejected(String key, String value, String rule, String kept) {
        return "configuration " + DifferenceMapsComponent.PID + ": " + key + " = '" + value + "' is not valid (" + rule + "); keeping "
                + kept;
    }

    /** Replaces {@code ${name}} with the system property; karaf.base falls back to the working directory. */
    static String substitute(String text) {
        Matcher m = PROPERTY.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            String v = System.getProperty(name);
            if (v == null && name.equals("karaf.base")) {
                v = System.getProperty("user.dir");
            }
            if (v == null) {
                throw new IllegalArgumentException("${" + name + "} names no system property");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(v));
        }
        m.appendTail(out);
        return out.toString();
    }
}
