package io.doppel.api.volume;

import java.time.Instant;
import java.util.Objects;

/**
 * What the registry knows of a volume.
 *
 * @param id        site-wide number, never reused; journal records name volumes by it
 * @param name      unique name, also the default export name
 * @param group     consistency group whose journal orders the volume's writes
 * @param size      bytes, a multiple of {@link VolumeService#BLOCK_SIZE}
 * @param directory the pool data directory holding the volume's files
 * @param created   when it was created
 */
public record VolumeInfo(int id, String name, String group, long size, String directory, Instant created) {
    public VolumeInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(created, "created");
    }

    public VolumeInfo withSize(long newSize) {
        return new VolumeInfo(id, name, group, newSize, directory, created);
    }
}
