package io.doppel.journal.internal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.doppel.api.units.ByteSize;

/**
 * Turns the configuration's text values into a directory and {@link JournalSettings}. A bad
 * value is reported (key, value, rule) and the previous value of that key is kept, so a typo
 * never stops the service.
 */
final class JournalConfig {

    private static final Pattern PROPERTY = Pattern.compile("\\$\\{([^}]+)}");

    /** The values in force. */
    record Values(Path directory, JournalSettings settings) {
    }

    /** What {@link #resolve} produced, with one message per rejected value. */
    record Outcome(Values values, List<String> errors) {
    }

    private JournalConfig() {
    }

    static Values defaults() {
        return new Values(Path.of(substitute(JournalServiceImpl.DEFAULT_DIRECTORY)).toAbsolutePath(), JournalSettings.defaults());
    }

    static Outcome resolve(String directory, String segmentBytes, String capacityBytes, String activityLogExtents,
                           String activityExtentBytes, Values previous) {
        List<String> errors = new ArrayList<>();
        JournalSettings p = previous.settings();

        Path dir = previous.directory();
        try {
            if (directory == null || directory.isBlank()) {
                throw new IllegalArgumentException("a directory is required");
            }
            dir = Path.of(substitute(directory.trim())).toAbsolutePath().normalize();
        } catch (IllegalArgumentException e) {
            errors.add(rejected("directory", directory, e.getMessage(), previous.directory().toString()));
        }

        long min = JournalSettings.minSegmentBytes(JournalSettings.DEFAULT_MAX_RECORD_BYTES);
        long segment = p.segmentBytes();
        try {
            long v = ByteSize.parse(segmentBytes).bytes();
            if (v < min || v > (4L << 30)) {
                throw new IllegalArgumentException("a segment must hold the largest record (32 MiB) plus the segment and record headers: "
                        + "between " + min + " bytes and 4 GiB");
            }
            segment = v;
        } catch (IllegalArgumentException e) {
            errors.add(rejected("segmentBytes", segmentBytes, e.getMessage(), ByteSize.format(segment)));
        }

        long capacity = p.capacityBytes();
        try {
            long v = ByteSize.parse(capacityBytes).bytes();
            if (v < 2 * segment) {
                throw new IllegalArgumentException("the capacity must be at least two segments (2 x segmentBytes = " + 2 * segment + " bytes)");
            }
            capacity = v;
        } catch (IllegalArgumentException e) {
            errors.add(rejected("capacityBytes", capacityBytes, e.getMessage(), ByteSize.format(capacity)));
        }
        if (capacity < 2 * segment) {
            // The kept capacity does not fit the new segment size: keep the old segment size too.
            errors.add(rejected("segmentBytes", segmentBytes, "the capacity in force (" + capacity + " bytes) must hold two segments",
                    ByteSize.format(p.segmentBytes())));
            segment = p.segmentBytes();
        }

        int extents = p.activityExtents();
        try {
            int v;
            try {
                v = Integer.parseInt(activityLogExtents == null ? "" : activityLogExtents.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a whole number");
            }
            if (v < 1 || v > JournalSettings.MAX_ACTIVITY_EXTENTS) {
                throw new IllegalArgumentException("must be between 1 and " + JournalSettings.MAX_ACTIVITY_EXTENTS);
            }
            extents = v;
        } catch (IllegalArgumentException e) {
            errors.add(rejected("activityLogExtents", activityLogExtents, e.getMessage(), String.valueOf(extents)));
        }

        long extentBytes = p.activityExtentBytes();
        try {
            long v = ByteSize.parse(activityExtentBytes).bytes();
            if (v < 4096 || v > (1L << 30) || Long.bitCount(v) != 1) {
                throw new IllegalArgumentException("must be a power of two between 4 KiB and 1 GiB");
            }
            extentBytes = v;
        } catch (IllegalArgumentException e) {
            errors.add(rejected("activityExtentBytes", activityExtentBytes, e.getMessage(), ByteSize.format(extentBytes)));
        }

        JournalSettings s = new JournalSettings(segment, capacity, JournalSettings.DEFAULT_MAX_RECORD_BYTES, extents, extentBytes);
        return new Outcome(new Values(dir, s), List.copyOf(errors));
    }

    private static String rejected(String key, String value, String rule, String kept) {
        return "configuration " + JournalServiceImpl.PID + ": " + key + " = '" + value + "' is not valid (" + rule + "); keeping " + kept;
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
