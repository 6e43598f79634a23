package io.doppel.itests.tools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The content of one volume of a replica, block by block, as the writes of a {@link History}
 * explain it: each block is ZERO (never written), a WRITE (the whole block one write of this
 * history put at this place), TORN (neither zeros nor a whole block) or FOREIGN (a whole block,
 * but of another volume, another block, another run, or of a write id the history never issued
 * to this block). Only the workload's blocks {@code 0..blocks-1} are read.
 */
public final class ReplicaImage {

    /** What a block holds, judged against the history. */
    public enum Kind {
        ZERO, WRITE, TORN, FOREIGN
    }

    /** One decoded block; {@code writeId} is set for WRITE, {@code detail} says what is wrong for TORN and FOREIGN. */
    public record Block(String volume, long index, Kind kind, long writeId, String detail) {

        @Override
        public String toString() {
            return volume + " block " + index + ": " + switch (kind) {
                case ZERO -> "zero";
                case WRITE -> "write " + writeId;
                case TORN, FOREIGN -> kind + " (" + detail + ")";
            };
        }
    }

    private static final int BLOCK_SIZE = BlockPattern.BLOCK_SIZE;
    private static final int CHUNK_BYTES = 1 << 20;
    private static final int READS_IN_FLIGHT = 8;
    private static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(60);
    private static final long ZERO = 0;
    private static final long VIOLATION = -1;

    private final long runId;
    private final History.Volume volume;
    // per block: a write id, ZERO, or VIOLATION with the reason in violations
    private final long[] found;
    private final Map<Long, Block> violations = new HashMap<>();

    private ReplicaImage(History history, History.Volume volume) {
        this.runId = history.runId();
        this.volume = volume;
        this.found = new long[Math.toIntExact(volume.blocks())];
    }

    /** Reads volume {@code volumeName}'s blocks from a raw image file (its first byte is block 0's). */
    public static ReplicaImage read(History history, String volumeName, Path file) {
        ReplicaImage image = new ReplicaImage(history, history.volume(volumeName));
        long bytes = image.volume.blocks() * BLOCK_SIZE;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (channel.size() < bytes) {
                throw new IllegalArgumentException(file + " has " + channel.size() + " bytes, volume " + volumeName
                        + " needs " + bytes + " (" + image.volume.blocks() + " blocks)");
            }
            byte[] chunk = new byte[CHUNK_BYTES];
            for (long position = 0; position < bytes; position += CHUNK_BYTES) {
                int length = (int) Math.min(CHUNK_BYTES, bytes - position);
                ByteBuffer buffer = ByteBuffer.wrap(chunk, 0, length);
                while (buffer.hasRemaining()) {
                    if (channel.read(buffer, position + buffer.position()) < 0) {
                        throw new IOException("unexpected end of file at " + (position + buffer.position()));
                    }
                }
                image.decode(history, position / BLOCK_SIZE, chunk, length);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read volume " + volumeName + " from " + file, e);
        }
        return image;
    }

    /** Reads volume {@code volumeName}'s blocks through {@code client}, each read within 60 s. */
    public static ReplicaImage read(History history, String volumeName, NbdClient client) {
        return read(history, volumeName, client, DEFAULT_READ_TIMEOUT);
    }

    /** Reads volume {@code volumeName}'s blocks through {@code client}, each read within {@code timeout}. */
    public static ReplicaImage read(History history, String volumeName, NbdClient client, Duration timeout) {
        ReplicaImage image = new ReplicaImage(history, history.volume(volumeName));
        long bytes = image.volume.blocks() * BLOCK_SIZE;
        if (client.size() < bytes) {
            throw new IllegalArgumentException("export '" + client.exportName() + "' has " + client.size()
                    + " bytes, volume " + volumeName + " needs " + bytes);
        }
        ArrayDeque<CompletableFuture<byte[]>> reads = new ArrayDeque<>();
        long requested = 0;
        long decoded = 0;
        while (decoded < bytes) {
            while (requested < bytes && reads.size() < READS_IN_FLIGHT) {
                reads.add(client.read(requested, (int) Math.min(CHUNK_BYTES, bytes - requested)));
                requested += CHUNK_BYTES;
            }
            byte[] chunk = await(reads.poll(), timeout, client, decoded);
            image.decode(history, decoded / BLOCK_SIZE, chunk, chunk.length);
            decoded += chunk.length;
        }
        return image;
    }

    /** Decodes an image held in memory, e.g. one rebuilt from a history. */
    public static ReplicaImage of(History history, String volumeName, byte[] content) {
        ReplicaImage image = new ReplicaImage(history, history.volume(volumeName));
        long bytes = image.volume.blocks() * BLOCK_SIZE;
        if (content.length < bytes) {
            throw new IllegalArgumentException("image of volume " + volumeName + " has " + content.length
                    + " bytes, needs " + bytes);
        }
        image.decode(history, 0, content, (int) bytes);
        return image;
    }

    public History.Volume volume() {
        return volume;
    }

    /** The run id of the history this image was decoded against. */
    public long runId() {
        return runId;
    }

    public long blocks() {
        return found.length;
    }

    public Kind kind(long block) {
        long value = found[index(block)];
        return value == ZERO ? Kind.ZERO : value == VIOLATION ? violations.get(block).kind() : Kind.WRITE;
    }

    /** The write id at {@code block}, or 0 if the block is not a WRITE. */
    public long writeId(long block) {
        long value = found[index(block)];
        return value > 0 ? value : 0;
    }

    public Block block(long block) {
        Kind kind = kind(block);
        return switch (kind) {
            case ZERO -> new Block(volume.name(), block, kind, 0, null);
            case WRITE -> new Block(volume.name(), block, kind, found[(int) block], null);
            case TORN, FOREIGN -> violations.get(block);
        };
    }

    /** The TORN and FOREIGN blocks, in block order. */
    public List<Block> violations() {
        List<Block> list = new ArrayList<>(violations.values());
        list.sort((a, b) -> Long.compare(a.index(), b.index()));
        return list;
    }

    /** How many blocks are of {@code kind}. */
    public long count(Kind kind) {
        long count = 0;
        for (long block = 0; block < found.length; block++) {
            if (kind(block) == kind) {
                count++;
            }
        }
        return count;
    }

    @Override
    public String toString() {
        return "image of " + volume.name() + ": " + found.length + " blocks, " + count(Kind.WRITE) + " written, "
                + count(Kind.ZERO) + " zero, " + violations.size() + " torn or foreign";
    }

    private int index(long block) {
        Objects.checkIndex(block, found.length);
        return (int) block;
    }

    private void decode(History history, long firstBlock, byte[] chunk, int length) {
        for (int offset = 0; offset < length; offset += BLOCK_SIZE) {
            long block = firstBlock + offset / BLOCK_SIZE;
            BlockPattern.Content content = BlockPattern.read(chunk, offset);
            switch (content.kind()) {
                case ZERO -> found[(int) block] = ZERO;
                case TORN -> violation(block, Kind.TORN, content.detail());
                case VALID -> {
                    String foreign = foreign(history, block, content.header());
                    if (foreign == null) {
                        found[(int) block] = content.header().writeId();
                    } else {
                        violation(block, Kind.FOREIGN, foreign);
                    }
                }
            }
        }
    }

    /** Why a whole block does not belong here, or null if it does. */
    private String foreign(History history, long block, BlockPattern.Header header) {
        if (header.runId() != history.runId()) {
            return "block of run " + Long.toHexString(header.runId()) + ", not of this run "
                    + Long.toHexString(history.runId());
        }
        if (header.volumeIndex() != volume.index() || header.volumeHash() != volume.hash()) {
            String other = header.volumeIndex() < history.volumes().size()
                    ? history.volumes().get(header.volumeIndex()).name() : "#" + header.volumeIndex();
            return "block of volume " + other + " (write " + header.writeId() + ")";
        }
        if (header.block() != block) {
            return "content of block " + header.block() + " (write " + header.writeId() + ")";
        }
        History.Write write = history.write(header.writeId());
        if (write == null) {
            return "write " + header.writeId() + ", which the history never issued";
        }
        if (write.volume() != volume.index() || !write.covers(block)) {
            return "write " + header.writeId() + ", which the history issued to " + history.volumes()
                    .get(write.volume()).name() + " blocks " + write.firstBlock() + ".." + write.lastBlock();
        }
        return null;
    }

    private void violation(long block, Kind kind, String detail) {
        found[(int) block] = VIOLATION;
        violations.put(block, new Block(volume.name(), block, kind, 0, detail));
    }

    private static byte[] await(CompletableFuture<byte[]> read, Duration timeout, NbdClient client, long offset) {
        try {
            return read.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Cannot read export '" + client.exportName() + "' at offset " + offset
                    + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("No reply within " + timeout + " to a read of export '"
                    + client.exportName() + "' at offset " + offset);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while reading export '" + client.exportName() + "'", e);
        }
    }
}
