package io.doppel.api.device;

import java.io.IOException;

import org.osgi.annotation.versioning.ProviderType;

/** Hands out block devices for volumes and snapshots (the engine provides it). */
@ProviderType
public interface DeviceProvider {

    /**
     * Opens a volume for I/O through the write path.
     *
     * @param readOnly refuse writes on this handle
     * @throws IllegalArgumentException naming the volume when it does not exist
     */
    BlockDevice open(String volume, boolean readOnly) throws IOException;

    /**
     * Opens a snapshot of a volume, read-only.
     *
     * @throws IllegalArgumentException naming what does not exist
     */
    BlockDevice openSnapshot(String volume, String snapshot) throws IOException;
}
