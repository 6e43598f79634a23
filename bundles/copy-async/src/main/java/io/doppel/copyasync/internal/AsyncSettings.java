package io.doppel.copyasync.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * The asynchronous copy's settings in force; replaced whole on reconfiguration, so that one
 * plan never mixes old and new values.
 *
 * @param pullIntervalMillis milliseconds between pulls while the primary has no more records
 * @param pullBytes          most record bytes one pull asks for
 * @param busyLoad           load (0 excluded, 1 included) from which the secondary applies records slowly
 */
record AsyncSettings(long pullIntervalMillis, long pullBytes, double busyLoad) {

    static final String PID = "io.doppel.copy.async";
    static final long MIN_INTERVAL_MILLIS = 1;
    static final long MAX_INTERVAL_MILLIS = 60_000;
    static final long MIN_PULL_BYTES = 64 << 10;
    static final long MAX_PULL_BYTES = 256L << 20;
    static final AsyncSettings DEFAULTS = new AsyncSettings(20, 4L << 20, 0.9);

    /** What {@link #resolve} kept, with one message per refused value. */
    record Outcome(AsyncSettings settings, List<String> errors) {
    }

    AsyncSettings {
        check("pullIntervalMillis", pullIntervalMillis, intervalRule(pullIntervalMillis));
        check("pullBytes", pullBytes, pullBytesRule(pullBytes));
        check("busyLoad", busyLoad, busyLoadRule(busyLoad));
    }

    private static void check(String key, Object value, String rule) {
        if (rule != null) {
            throw new IllegalArgumentException(key + " = " + value + " is not valid: " + rule);
        }
    }

    /** Null when the value is allowed, otherwise the rule it breaks. */
    static String intervalRule(long v) {
        return v < MIN_INTERVAL_MILLIS || v > MAX_INTERVAL_MILLIS
                ? "must be between " + MIN_INTERVAL_MILLIS + " and " + MAX_INTERVAL_MILLIS + " milliseconds" : null;
    }

    static String pullBytesRule(long v) {
        return v < MIN_PULL_BYTES || v > MAX_PULL_BYTES ? "must be between " + MIN_PULL_BYTES + " (64 KiB) and " + MAX_PULL_BYTES
                + " (256 MiB) bytes" : null;
    }

    static String busyLoadRule(double v) {
        // written so that NaN fails too
        return v > 0 && v <= 1 ? null : "must be above 0 and at most 1";
    }

    /**
     * Resolves configured values against the ones in force: a value that breaks its rule, or
     * that cannot be read as a number (Declarative Services then throws from the accessor), is
     * reported naming the key and the value, and the previous value of that key is kept, so a
     * typo never stops the copy mode.
     */
    static Outcome resolve(LongSupplier pullIntervalMillis, LongSupplier pullBytes, DoubleSupplier busyLoad, AsyncSettings previous) {
        List<String> errors = new ArrayList<>();
        long interval = previous.pullIntervalMillis();
        try {
            long v = pullIntervalMillis.getAsLong();
            String rule = intervalRule(v);
            if (rule == null) {
                interval = v;
            } else {
                errors.add(rejected("pullIntervalMillis", String.valueOf(v), rule, String.valueOf(interval)));
            }
        } catch (RuntimeException e) {
            errors.add(unreadable("pullIntervalMillis", e, String.valueOf(interval)));
        }
        long bytes = previous.pullBytes();
        try {
            long v = pullBytes.getAsLong();
            String rule = pullBytesRule(v);
            if (rule == null) {
                bytes = v;
            } else {
                errors.add(rejected("pullBytes", String.valueOf(v), rule, String.valueOf(bytes)));
            }
        } catch (RuntimeException e) {
            errors.add(unreadable("pullBytes", e, String.valueOf(bytes)));
        }
        double load = previous.busyLoad();
        try {
            double v = busyLoad.getAsDouble();
            String rule = busyLoadRule(v);
            if (rule == null) {
                load = v;
            } else {
                errors.add(rejected("busyLoad", String.valueOf(v), rule, String.valueOf(load)));
            }
        } catch (RuntimeException e) {
            errors.add(unreadable("busyLoad", e, String.valueOf(load)));
        }
        return new Outcome(new AsyncSettings(interval, bytes, load), List.copyOf(errors));
    }

    private static String rejected(String key, String value, String rule, String kept) {
        return "configuration " + PID + ": " + key + " = " + value + " is not valid (" + rule + "); keeping " + kept;
    }

    private static String unreadable(String key, RuntimeException e, String kept) {
        // Declarative Services' message carries the text, e.g. For input string: "20ms"
        return "configuration " + PID + ": " + key + " is not a number (" + e.getMessage() + "); keeping " + kept;
    }
}
