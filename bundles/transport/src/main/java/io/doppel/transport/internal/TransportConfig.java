package io.doppel.transport.internal;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.function.Predicate;

import io.doppel.api.units.ByteSize;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transport's settings, validated. A bad value is logged at ERROR (key, value, rule) and
 * replaced by the previous (or default) one, so a typo in {@code etc/io.doppel.transport.cfg}
 * never takes the links down.
 *
 * @param directory            holds the site key and certificate and the peer registry;
 *                             {@code ${karaf.base}} is replaced by that system property
 * @param address              address to listen on
 * @param port                 TCP port; 0 picks a free one (tests)
 * @param heartbeatMillis      a heartbeat goes both ways this often
 * @param deadAfterMillis      a link that received nothing for this long is closed and redialled
 * @param connectTimeoutMillis TCP connect, TLS handshake and HELLO must each finish within this
 * @param maxBackoffMillis     redial delays double from 100 ms up to this
 * @param requestTimeoutMillis a request without a reply fails after this
 * @param maxQueuedBytes       bytes queued on a link before it stops being writable
 * @param maxPayloadBytes      largest frame payload sent or accepted
 */
public record TransportConfig(String directory, String address, int port, long heartbeatMillis, long deadAfterMillis,
        long connectTimeoutMillis, long maxBackoffMillis, long requestTimeoutMillis, long maxQueuedBytes,
        long maxPayloadBytes) {

    private static final Logger LOG = LoggerFactory.getLogger(TransportConfig.class);

    public static final String PID = "io.doppel.transport";
    static final String KARAF_BASE = "${karaf.base}";
    static final long MIN_BACKOFF_MILLIS = 100;

    public static final TransportConfig DEFAULTS = new TransportConfig(KARAF_BASE + "/doppel/tls", "127.0.0.1", 10810,
            1000, 5000, 3000, 5000, 30000, 64L << 20, 64L << 20);

    /** The directory with {@code ${karaf.base}} resolved. */
    Path directoryPath() {
        String value = directory;
        if (value.contains(KARAF_BASE)) {
            String base = System.getProperty("karaf.base");
            if (base == null) {
                base = System.getProperty("user.dir");
                LOG.warn("System property karaf.base is not set: resolving directory {} against {}", value, base);
            }
            value = value.replace(KARAF_BASE, base);
        }
        return Paths.get(value).toAbsolutePath().normalize();
    }

    public TransportConfig withDirectory(Path dir) {
        return new TransportConfig(dir.toString(), address, port, heartbeatMillis, deadAfterMillis,
                connectTimeoutMillis, maxBackoffMillis, requestTimeoutMillis, maxQueuedBytes, maxPayloadBytes);
    }

    public TransportConfig withPort(int newPort) {
        return new TransportConfig(directory, address, newPort, heartbeatMillis, deadAfterMillis,
                connectTimeoutMillis, maxBackoffMillis, requestTimeoutMillis, maxQueuedBytes, maxPayloadBytes);
    }

    public TransportConfig withTimes(long heartbeat, long deadAfter, long maxBackoff, long requestTimeout) {
        return new TransportConfig(directory, address, port, heartbeat, deadAfter, connectTimeoutMillis, maxBackoff,
                requestTimeout, maxQueuedBytes, maxPayloadBytes);
    }

    public TransportConfig withLimits(long queuedBytes, long payloadBytes) {
        return new TransportConfig(directory, address, port, heartbeatMillis, deadAfterMillis, connectTimeoutMillis,
                maxBackoffMillis, requestTimeoutMillis, queuedBytes, payloadBytes);
    }

    /**
     * Reads the configuration properties.
     *
     * @param previous the settings in force, used in place of bad values; {@code null} on first activation
     */
    static TransportConfig from(Map<String, ?> props, TransportConfig previous) {
        TransportConfig p = previous == null ? DEFAULTS : previous;
        String directory = string(props, "directory", DEFAULTS.directory, p.directory, TransportConfig::validPath,
                "a directory path");
        String address = string(props, "address", DEFAULTS.address, p.address,
                v -> !v.isBlank() && v.chars().noneMatch(Character::isWhitespace), "a host name or IP address");
        int port = (int) number(props, "port", DEFAULTS.port, p.port, 0, 65535);
        long heartbeat = number(props, "heartbeatMillis", DEFAULTS.heartbeatMillis, p.heartbeatMillis, 10, 60_000);
        long deadAfter = number(props, "deadAfterMillis", DEFAULTS.deadAfterMillis, p.deadAfterMillis, 20, 3_600_000);
        if (deadAfter < 2 * heartbeat) {
            long fallback = Math.max(p.deadAfterMillis, 2 * heartbeat);
            LOG.error("Invalid configuration {}: deadAfterMillis = '{}' must be at least twice heartbeatMillis ({});"
                    + " using {}", PID, deadAfter, heartbeat, fallback);
            deadAfter = fallback;
        }
        long connect = number(props, "connectTimeoutMillis", DEFAULTS.connectTimeoutMillis, p.connectTimeoutMillis,
                100, 600_000);
        long backoff = number(props, "maxBackoffMillis", DEFAULTS.maxBackoffMillis, p.maxBackoffMillis,
                MIN_BACKOFF_MILLIS, 3_600_000);
        long request = number(props, "requestTimeoutMillis", DEFAULTS.requestTimeoutMillis, p.requestTimeoutMillis,
                1, 86_400_000);
        long queued = size(props, "maxQueuedBytes", DEFAULTS.maxQueuedBytes, p.maxQueuedBytes, 64L << 10, 1L << 30);
        long payload = size(props, "maxPayloadBytes", DEFAULTS.maxPayloadBytes, p.maxPayloadBytes, 4L << 10,
                1L << 30);
        return new TransportConfig(directory, address, port, heartbeat, deadAfter, connect, backoff, request, queued,
                payload);
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

    private static long number(Map<String, ?> props, String key, long def, long fallback, long min, long max) {
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
        return v;
    }

    private static long size(Map<String, ?> props, String key, long def, long fallback, long min, long max) {
        Object raw = props.get(key);
        if (raw == null) {
            return def;
        }
        try {
            long v = raw instanceof Number n ? n.longValue() : ByteSize.parse(String.valueOf(raw)).bytes();
            if (v >= min && v <= max) {
                return v;
            }
        } catch (IllegalArgumentException e) {
            // reported below with the rule
        }
        LOG.error("Invalid configuration {}: {} = '{}' must be a size from {} to {} (like 64M); using {}", PID, key,
                raw, ByteSize.format(min), ByteSize.format(max), ByteSize.format(fallback));
        return fallback;
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
}
