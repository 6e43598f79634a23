package io.doppel.copyasync.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The asynchronous copy's settings in force; replaced whole on reconfiguration, so that one
 * plan never mixes old and new values.
 *
 * @param minIntervalMillis   shortest wait between pulls
 * @param maxIntervalMillis   longest wait between pulls
 * @param pullBytes           most record bytes one pull asks for
 * @param busyLoad            load (0 excluded, 1 included) above which the secondary counts as busy:
 *                            it pulls less often and applies records slowly (1: never)
 * @param primaryBusyLoad     the primary's load from which it counts as saturated
 * @param yieldToBusyPrimary  whether pulls wait while the primary is saturated by host writes and
 *                            its journal has headroom for the burst (see {@link PullController})
 * @param linkBytesPerSecond  the link's capacity, both directions together; 0 when not known (the
 *                            link rule is then off)
 */
record AsyncSettings(long minIntervalMillis, long maxIntervalMillis, long pullBytes, double busyLoad,
                     double primaryBusyLoad, boolean yieldToBusyPrimary, long linkBytesPerSecond) {

    static final String PID = "io.doppel.copy.async";
    static final long MIN_INTERVAL_MILLIS = 1;
    static final long MAX_INTERVAL_MILLIS = 60_000;
    static final long MIN_PULL_BYTES = 64 << 10;
    static final long MAX_PULL_BYTES = 256L << 20;
    static final AsyncSettings DEFAULTS = new AsyncSettings(1, 1000, 4L << 20, 0.9, 0.9, false, 0);

    /** What {@link #resolve} kept, with one message per refused value. */
    record Outcome(AsyncSettings settings, List<String> errors) {
    }

    AsyncSettings {
        check("minIntervalMillis", minIntervalMillis, intervalRule(minIntervalMillis));
        check("maxIntervalMillis", maxIntervalMillis, intervalRule(maxIntervalMillis));
        check("maxIntervalMillis", maxIntervalMillis, orderRule(minIntervalMillis, maxIntervalMillis));
        check("pullBytes", pullBytes, pullBytesRule(pullBytes));
        check("busyLoad", busyLoad, loadRule(busyLoad));
        check("primaryBusyLoad", primaryBusyLoad, loadRule(primaryBusyLoad));
        check("linkBytesPerSecond", linkBytesPerSecond, linkRule(linkBytesPerSecond));
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

    static String orderRule(long min, long max) {
        return max < min ? "must not be below minIntervalMillis (" + min + ")" : null;
    }

    static String pullBytesRule(long v) {
        return v < MIN_PULL_BYTES || v > MAX_PULL_BYTES ? "must be between " + MIN_PULL_BYTES + " (64 KiB) and " + MAX_PULL_BYTES
                + " (256 MiB) bytes" : null;
    }

    static String loadRule(double v) {
        // written so that NaN fails too
        return v > 0 && v <= 1 ? null : "must be above 0 and at most 1";
    }

    static String linkRule(long v) {
        return v < 0 ? "must be 0 (not known) or a rate in bytes per second" : null;
    }

    /**
     * Resolves configured values against the ones in force: a value that breaks its rule, or
     * that cannot be read (Declarative Services then throws from the accessor), is reported
     * naming the key and the value, and the previous value of that key is kept, so a typo never
     * stops the copy mode.
     */
    static Outcome resolve(AsyncCopyMode.Config c, AsyncSettings previous) {
        List<String> errors = new ArrayList<>();
        long min = pick("minIntervalMillis", c::minIntervalMillis, AsyncSettings::intervalRule, previous.minIntervalMillis(), errors);
        long max = pick("maxIntervalMillis", c::maxIntervalMillis, AsyncSettings::intervalRule, previous.maxIntervalMillis(), errors);
        String order = orderRule(min, max);
        if (order != null) {
            errors.add("configuration " + PID + ": maxIntervalMillis = " + max + " is not valid (" + order + "); keeping "
                    + previous.minIntervalMillis() + " to " + previous.maxIntervalMillis());
            min = previous.minIntervalMillis();
            max = previous.maxIntervalMillis();
        }
        long bytes = pick("pullBytes", c::pullBytes, AsyncSettings::pullBytesRule, previous.pullBytes(), errors);
        double busy = pick("busyLoad", c::busyLoad, AsyncSettings::loadRule, previous.busyLoad(), errors);
        double primaryBusy = pick("primaryBusyLoad", c::primaryBusyLoad, AsyncSettings::loadRule, previous.primaryBusyLoad(), errors);
        boolean yield = pick("yieldToBusyPrimary", c::yieldToBusyPrimary, v -> null, previous.yieldToBusyPrimary(), errors);
        long link = pick("linkBytesPerSecond", c::linkBytesPerSecond, AsyncSettings::linkRule, previous.linkBytesPerSecond(), errors);
        return new Outcome(new AsyncSettings(min, max, bytes, busy, primaryBusy, yield, link), List.copyOf(errors));
    }

    private static <T> T pick(String key, Supplier<T> read, Function<T, String> rule, T kept, List<String> errors) {
        T v;
        try {
            v = read.get();
        } catch (RuntimeException e) {
            // Declarative Services' message carries the text, e.g. For input string: "20ms"
            errors.add("configuration " + PID + ": " + key + " cannot be read (" + e.getMessage() + "); keeping " + kept);
            return kept;
        }
        String broken = rule.apply(v);
        if (broken != null) {
            errors.add("configuration " + PID + ": " + key + " = " + v + " is not valid (" + broken + "); keeping " + kept);
            return kept;
        }
        return v;
    }
}
