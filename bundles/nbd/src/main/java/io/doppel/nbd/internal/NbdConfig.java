package io.doppel.nbd.internal;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.function.Predicate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's settings, validated. A bad value is logged and replaced by the previous
 * (or default) one, so that a typo in {@code etc/io.doppel.nbd.cfg} never stops the server.
 *
 * @param address             address to listen on
 * @param port                TCP port; 0 picks a free one (tests)
 * @param workerThreads       threads that run block-device requests
 * @param maxInFlightRequests per connection: requests received and not yet answered before reading pauses
 * @param maxInFlightBytes    per connection: data bytes of such requests before reading pauses
 * @param exportsFile         the export registry; {@code ${karaf.base}} is replaced by that system property
 * @param defaultExport       export created on first start and served for the empty export name; "" for none
 * @param inlineReads         serve reads on the event loop while they come from the page cache (see docs/nbd.md)
 */
public record NbdConfig(String address, int port, int workerThreads, int maxInFlightRequests, long maxInFlightBytes,
        String exportsFile, String defaultExport, boolean inlineReads) {

    private static final Logger LOG = LoggerFactory.getLogger(NbdConfig.class);

    public static final String PID = "io.doppel.nbd";
    static final String KARAF_BASE = "${karaf.base}";

    public static final NbdConfig DEFAULTS = new NbdConfig("127.0.0.1", 10809, 16, 128, 128L << 20,
            KARAF_BASE + "/doppel/nbd/exports", "vol0", true);

    /** A copy listening on another port (tests use 0). */
    public NbdConfig withPort(int newPort) {
        return new NbdConfig(address, newPort, workerThreads, maxInFlightRequests, maxInFlightBytes, exportsFile,
                defaultExport, inlineReads);
    }

    public NbdConfig withExportsFile(Path file) {
        return new NbdConfig(address, port, workerThreads, maxInFlightRequests, maxInFlightBytes, file.toString(),
                defaultExport, inlineReads);
    }

    public NbdConfig withMaxInFlightRequests(int max) {
        return new NbdConfig(address, port, workerThreads, max, maxInFlightBytes, exportsFile, defaultExport,
                inlineReads);
    }

    public NbdConfig withInlineReads(boolean inline) {
        return new NbdConfig(address, port, workerThreads, maxInFlightRequests, maxInFlightBytes, exportsFile,
                defaultExport, inline);
    }

    /** The registry path with {@code ${karaf.base}} resolved. */
    Path exportsPath() {
        String value = exportsFile;
        if (value.contains(KARAF_BASE)) {
            String base = System.getProperty("karaf.base");
            if (base == null) {
                base = System.getProperty("user.dir");
                LOG.warn("System property karaf.base is not set: resolving exportsFile {} against {}", value, base);
            }
            value = value.replace(KARAF_BASE, base);
        }
        return Paths.get(value).toAbsolutePath().normalize();
    }

    /**
     * Reads the configuration properties.
     *
     * @param previous the settings in force, used in place of bad values; {@code null} on first activation
     */
    static NbdConfig from(Map<String, ?> props, NbdConfig previous) {
        NbdConfig p = previous == null ? DEFAULTS : previous;
        String address = string(props, "address", DEFAULTS.address, p.address,
                v -> !v.isBlank() && v.chars().noneMatch(Character::isWhitespace), "a host name or IP address");
        int port = integer(props, "port", DEFAULTS.port, p.port, 0, 65535);
        int workers = integer(props, "workerThreads", DEFAULTS.workerThreads, p.workerThreads, 1, 1024);
        int inFlight = integer(props, "maxInFlightRequests", DEFAULTS.maxInFlightRequests, p.maxInFlightRequests,
                1, 65536);
        String exportsFile = string(props, "exportsFile", DEFAULTS.exportsFile, p.exportsFile,
                NbdConfig::validPath, "a file path");
        String defaultExport = string(props, "defaultExport", DEFAULTS.defaultExport, p.defaultExport,
                NbdConfig::validExportName,
                "empty or an export name (1 to 64 letters, digits, '.', '_', '-', starting with a letter or digit)");
        boolean inlineReads = p.inlineReads;
        Object raw = props.get("inlineReads");
        if (raw == null) {
            inlineReads = DEFAULTS.inlineReads;
        } else if (raw instanceof Boolean b) {
            inlineReads = b;
        } else if ("true".equalsIgnoreCase(raw.toString().trim()) || "false".equalsIgnoreCase(raw.toString().trim())) {
            inlineReads = Boolean.parseBoolean(raw.toString().trim());
        } else {
            LOG.error("Invalid configuration {}: inlineReads = '{}' must be true or false; using {}", PID, raw, inlineReads);
        }
        return new NbdConfig(address, port, workers, inFlight, DEFAULTS.maxInFlightBytes, exportsFile,
                defaultExport, inlineReads);
    }

    private static String string(Map<String, ?> props, String key, String def, String fallback,
            Predicate<String> valid, String rule) {
        Object raw = props.get(key);
        if (raw == null) {
            return def;
        }
        String v = String.valueOf(raw).trim();
        if (!valid.test(v)) {
            LOG.error("Invalid configuration {}: {} = '{}' must be {}; using '{}'", PID, key, raw, rule, fallback);
            return fallback;
        }
        return v;
    }

    private static int integer(Map<String, ?> props, String key, int def, int fallback, int min, int max) {
        Object raw = props.get(key);
        if (raw == null) {
            return def;
        }
        long v;
        try {
            v = raw instanceof Number n ? n.longValue() : Long.parseLong(String.valueOf(raw).trim());
        } catch (NumberFormatException e) {
            v = Long.MIN_VALUE;
        }
        if (v < min || v > max) {
            LOG.error("Invalid configuration {}: {} = '{}' must be an integer from {} to {}; using {}", PID, key,
                    raw, min, max, fallback);
            return fallback;
        }
        return (int) v;
    }

    private static boolean validPath(String v) {
        if (v.isBlank()) {
            return false;
        }
        try {
            Paths.get(v.replace(KARAF_BASE, "base"));
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static boolean validExportName(String v) {
        if (v.isEmpty()) {
            return true;
        }
        try {
            Export.checkName("export name", v);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
