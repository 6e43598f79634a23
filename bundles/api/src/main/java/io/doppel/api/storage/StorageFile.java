package io.doppel.api.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * An open file with positional I/O. Safe for concurrent use by several threads on
 * different ranges. Writes are durable only after {@link #force()} returns.
 */
@ConsumerType
public interface StorageFile extends Closeable {

    Path path();

    long size() throws IOException;

    /**
     * Reads from {@code position} until {@code dst} is full or the end of the file.
     *
     * @return the number of bytes read, or -1 if {@code position} is at or past the end
     */
    int read(ByteBuffer dst, long position) throws IOException;

    /** Writes all remaining bytes of {@code src} at {@code position}, growing the file if needed. */
    void write(ByteBuffer src, long position) throws IOException;

    /** Writes the buffers back to back, starting at {@code position}, as one gathering write where possible. */
    void write(ByteBuffer[] srcs, long position) throws IOException;

    /** Grows (sparse) or truncates the file. */
    void setLength(long length) throws IOException;

    /** Makes every write before this call durable (data and size, like fdatasync). */
    void force() throws IOException;

    @Override
    void close() throws IOException;
}
