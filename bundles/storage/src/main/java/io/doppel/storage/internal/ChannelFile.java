package io.doppel.storage.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

import io.doppel.api.storage.StorageFile;

/** A {@link StorageFile} over a {@link FileChannel}. */
final class ChannelFile implements StorageFile {

    private final Path path;
    private final FileChannel channel;
    /** Gathering writes use the channel's own position; positional writes do not. */
    private final Object gatherLock = new Object();

    ChannelFile(Path path, FileChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        int total = 0;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, position + total);
            if (n < 0) {
                return total == 0 ? -1 : total;
            }
            total += n;
        }
        return total;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        long pos = position;
        while (src.hasRemaining()) {
            pos += channel.write(src, pos);
        }
    }

    /** Gathered writes up to this size are copied into one buffer and written with a single pwrite. */
    private static final int COPY_MAX = 64 * 1024;
    private static final ThreadLocal<ByteBuffer> COPY = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(COPY_MAX));

    @Override
    public void write(ByteBuffer[] srcs, long position) throws IOException {
        long total = 0;
        for (ByteBuffer b : srcs) {
            total += b.remaining();
        }
        if (total <= COPY_MAX) {
            // A small record (a header and 4 KiB of data) costs a copy of nanoseconds; a gathering
            // write would cost an lseek and a writev under a lock.
            ByteBuffer copy = COPY.get().clear();
            for (ByteBuffer b : srcs) {
                copy.put(b);
            }
            write(copy.flip(), position);
            return;
        }
        synchronized (gatherLock) {
            channel.position(position);
            long remaining = total;
            while (remaining > 0) {
                remaining -= channel.write(srcs);
            }
        }
    }

    @Override
    public void setLength(long length) throws IOException {
        long size = channel.size();
        if (length < size) {
            channel.truncate(length);
        } else if (length > size) {
            // A one-byte write at the end makes a sparse file of the new length.
            channel.write(ByteBuffer.allocate(1), length - 1);
        }
    }

    @Override
    public void force() throws IOException {
        channel.force(false);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
