package io.doppel.engine.internal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.doppel.api.units.ByteSize;

/**
 * Turns raw configuration into {@link EngineSettings}. A bad value is not fatal: it is
 * reported (key, value, rule) and the previous value stays in force, so a typo in
 * {@code etc/io.doppel.engine.cfg} never stops the appliance.
 */
final class SettingsParser {

    private final List<String> problems = new ArrayList<>();

    List<String> problems() {
        return problems;
    }

    EngineSettings parse(Map<String, ?> raw, EngineSettings previous) {
        Path home = previous.home();
        Object h = raw.get("home");
        if (h != null) {
            String s = resolveKarafBase(h.toString().trim());
            if (s.isEmpty()) {
                problems.add("home: must not be empty; keeping " + home);
            } else {
                home = Path.of(s).toAbsolutePath().normalize();
            }
        }
        long hold = positiveLong(raw, "ioHoldTimeoutMillis", previous.ioHoldTimeoutMillis(), 10, 3_600_000);
        long interval = positiveLong(raw, "checkpointIntervalMillis", previous.checkpointIntervalMillis(), 100, 3_600_000);
        long modeHold = positiveLong(raw, "copyModeHoldMillis", previous.copyModeHoldMillis(), 0, 3_600_000);
        long reignCheck = positiveLong(raw, "reignCheckMillis", previous.reignCheckMillis(), 0, 3_600_000);
        String group = string(raw, "firstGroup", previous.firstGroup());
        String volume = string(raw, "firstVolume", previous.firstVolume());
        long size = previous.firstVolumeSize();
        Object sz = raw.get("firstVolumeSize");
        if (sz != null) {
            try {
                long b = ByteSize.parse(sz.toString()).bytes();
                if (b <= 0 || b % 4096 != 0) {
                    problems.add("firstVolumeSize: '" + sz + "' must be a positive multiple of 4096; keeping " + size);
                } else {
                    size = b;
                }
            } catch (IllegalArgumentException e) {
                problems.add("firstVolumeSize: " + e.getMessage() + "; keeping " + size);
            }
        }
        if (!volume.isEmpty() && group.isEmpty()) {
            problems.add("firstVolume: needs a firstGroup; no volume will be created on first start");
            volume = "";
        }
        return new EngineSettings(home, hold, interval, group, volume, size, modeHold, reignCheck);
    }

    private long positiveLong(Map<String, ?> raw, String key, long previous, long min, long max) {
        Object v = raw.get(key);
        if (v == null) {
            return previous;
        }
        try {
            long n = v instanceof Number num ? num.longValue() : Long.parseLong(v.toString().trim());
            if (n < min || n > max) {
                problems.add(key + ": " + n + " is outside [" + min + ", " + max + "]; keeping " + previous);
                return previous;
            }
            return n;
        } catch (NumberFormatException e) {
            problems.add(key + ": '" + v + "' is not a whole number; keeping " + previous);
            return previous;
        }
    }

    private static String string(Map<String, ?> raw, String key, String previous) {
        Object v = raw.get(key);
        return v == null ? previous : v.toString().trim();
    }

    /** ${karaf.base} in a default that Config Admin did not interpolate. */
    static String resolveKarafBase(String s) {
        String base = System.getProperty("karaf.base", ".");
        return s.replace("${karaf.base}", base);
    }
}
