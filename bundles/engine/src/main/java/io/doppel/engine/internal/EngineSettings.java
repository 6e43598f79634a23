package io.doppel.engine.internal;

import java.nio.file.Path;

/**
 * The engine's validated configuration.
 *
 * @param home                     data home (site identity, group registry)
 * @param ioHoldTimeoutMillis      how long I/O waits while a service is absent before failing with EIO
 * @param checkpointIntervalMillis how often volumes are forced so the journal can be released
 * @param firstGroup               group made on first start ("" for none)
 * @param firstVolume              volume made on first start ("" for none)
 * @param firstVolumeSize          its size in bytes
 * @param copyModeHoldMillis       how long a write waits for a pair's absent copy mode (a bundle update)
 *                                 before the pair's lost-peer policy applies
 */
public record EngineSettings(Path home, long ioHoldTimeoutMillis, long checkpointIntervalMillis, String firstGroup,
                             String firstVolume, long firstVolumeSize, long copyModeHoldMillis, long reignCheckMillis) {

    public static final long DEFAULT_COPY_MODE_HOLD_MILLIS = 5_000;
    public static final long DEFAULT_REIGN_CHECK_MILLIS = 10_000;

    /** Settings with the default reign check. */
    public EngineSettings(Path home, long ioHoldTimeoutMillis, long checkpointIntervalMillis, String firstGroup,
                          String firstVolume, long firstVolumeSize, long copyModeHoldMillis) {
        this(home, ioHoldTimeoutMillis, checkpointIntervalMillis, firstGroup, firstVolume, firstVolumeSize,
                copyModeHoldMillis, DEFAULT_REIGN_CHECK_MILLIS);
    }

    /** Settings with the default copy-mode hold. */
    public EngineSettings(Path home, long ioHoldTimeoutMillis, long checkpointIntervalMillis, String firstGroup,
                          String firstVolume, long firstVolumeSize) {
        this(home, ioHoldTimeoutMillis, checkpointIntervalMillis, firstGroup, firstVolume, firstVolumeSize,
                DEFAULT_COPY_MODE_HOLD_MILLIS);
    }

    public static EngineSettings defaults(Path home) {
        return new EngineSettings(home, 30_000, 5_000, "default", "vol0", 1L << 30, DEFAULT_COPY_MODE_HOLD_MILLIS,
                DEFAULT_REIGN_CHECK_MILLIS);
    }
}
