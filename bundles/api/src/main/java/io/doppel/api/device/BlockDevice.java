package io.doppel.api.device;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

import org.osgi.annotation.versioning.ProviderType;

/**
 * What a front end (the NBD server) serves: a volume through the engine's write path, or a
 * snapshot read-only. Methods block until the request is complete and may be called from
 * many threads at once. Failures are {@link DeviceException}s.
 *
 * <p>A write is complete when it is in the journal and the volume (and with a sync pair,
 * in the peers' journals); it is durable after FUA or a later {@link #flush()}.
 */
@ProviderType
public interface BlockDevice extends Closeable {

    /** "volume" or "volume@snapshot". */
    String name();

    /** Current size in bytes. */
    long size();

    boolean readOnly();

    /**
     * Whether a write without FUA completes without waiting for another site or an fsync, so
     * that a front end may run it on an I/O event loop. False while the volume's group has a
     * synchronous pair: its writes wait for the peer's acknowledgement.
     */
    default boolean fastWrites() {
        return true;
    }

    /** Fills {@code dst} (position to limit) from {@code offset}. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /** Writes {@code src} (position to limit) at {@code offset}; durable on return if {@code fua}. */
    void write(long offset, ByteBuffer src, boolean fua) throws IOException;

    /** Makes the range read as zeros. */
    void writeZeroes(long offset, long length, boolean fua) throws IOException;

    /** Discards the range; Doppel's trimmed ranges read as zeros. */
    void trim(long offset, long length, boolean fua) throws IOException;

    /** Makes every write completed before this call durable. */
    void flush() throws IOException;

    /** Releases the device; outstanding requests of other callers are unaffected. */
    @Override
    void close() throws IOException;
}
