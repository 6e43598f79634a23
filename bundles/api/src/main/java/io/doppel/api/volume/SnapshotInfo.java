package io.doppel.api.volume;

import java.time.Instant;
import java.util.Objects;

/**
 * A copy-on-write snapshot of a volume.
 *
 * @param volume         the volume's name
 * @param name           unique among the volume's snapshots
 * @param size           the volume's size when the snapshot was taken
 * @param created        when it was taken
 * @param preservedBytes bytes of old data the snapshot holds because the volume changed since
 */
public record SnapshotInfo(String volume, String name, long size, Instant created, long preservedBytes) {
    public SnapshotInfo {
        Objects.requireNonNull(volume, "volume");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(created, "created");
    }
}
