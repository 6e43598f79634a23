package io.doppel.api.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * The one way volumes, journals and metadata reach the disk.
 *
 * <p>Routing all file I/O through this interface lets a test implementation keep
 * apart what was written since the last {@link StorageFile#force()} and drop a
 * random part of it, which is how power cuts are simulated. The production
 * implementation is plain {@code FileChannel} positional I/O.
 *
 * <p>Directory operations ({@link #writeAtomically}, {@link #rename},
 * {@link #deleteIfExists}, creating a file) are durable when they return.
 */
@ConsumerType
public interface Storage {

    /**
     * Opens a file for positional reads and writes.
     *
     * @param create create an empty file when it does not exist (its directory must exist)
     * @throws java.nio.file.NoSuchFileException if absent and {@code create} is false
     */
    StorageFile open(Path path, boolean create) throws IOException;

    boolean exists(Path path);

    void createDirectories(Path dir) throws IOException;

    /** The entries directly under {@code dir}, sorted by name; empty when {@code dir} does not exist. */
    List<Path> list(Path dir) throws IOException;

    /** Deletes a file or an empty directory; nothing happens when it is absent. */
    void deleteIfExists(Path path) throws IOException;

    /** Atomic and durable rename, replacing {@code to} if it exists. */
    void rename(Path from, Path to) throws IOException;

    /**
     * Replaces {@code target} with {@code content} so that after a crash it holds either
     * the old or the new content: temp file beside it, force, rename, force the directory.
     */
    void writeAtomically(Path target, ByteBuffer content) throws IOException;

    /** Reads a whole (small) file. */
    byte[] readAll(Path path) throws IOException;

    /** Bytes a new allocation in {@code dir} may still use. */
    long usableSpace(Path dir) throws IOException;

    /** Size of the file system holding {@code dir}. */
    long totalSpace(Path dir) throws IOException;
}
