package io.doppel.itests.tools;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What an {@link OracleWorkload} did: every write it issued to the volumes of one consistency
 * group, with when it was issued and answered on one global tick counter, and how it ended.
 * Immutable.
 * <p>
 * Ticks order events across all volumes: write {@code a} happens before write {@code b} when
 * {@code a} was answered before {@code b} was issued ({@link Write#happensBefore(Write)}). Writes
 * overlapping a block are never in flight together, so the writes to one block are ordered by
 * their issue ticks.
 */
public final class History {

    /** The {@code format} field of a saved history. */
    public static final String FORMAT = "doppel-oracle-history";
    public static final int VERSION = 1;

    // compact: a long run saves hundreds of thousands of writes (jq reads it)
    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** How a write ended, as the host saw it. */
    public enum Outcome {
        /** The server replied OK: the write must survive. */
        ACKNOWLEDGED,
        /** The server replied with an error: the write may or may not have taken effect. */
        FAILED,
        /** No reply (connection lost, or given up): the write may or may not have taken effect. */
        UNKNOWN
    }

    /** One volume of the group; the workload writes its blocks {@code 0..blocks-1}. */
    public record Volume(int index, String name, long blocks) {

        public Volume {
            Objects.requireNonNull(name, "name");
            if (index < 0 || index > 0xffff) {
                throw new IllegalArgumentException("volume index must be 0..65535, was " + index);
            }
            if (blocks <= 0) {
                throw new IllegalArgumentException("volume " + name + " must have blocks, has " + blocks);
            }
        }

        /** The name hash its blocks carry. */
        public int hash() {
            return BlockPattern.volumeHash(name);
        }
    }

    /**
     * One write of {@code blockCount} blocks from {@code firstBlock} of volume {@code volume}.
     * {@code completeTick} is -1 for an UNKNOWN write; {@code errno} is the server's error for a
     * FAILED one.
     */
    public record Write(long id, int volume, long firstBlock, int blockCount, boolean fua, long issueTick,
            long completeTick, Outcome outcome, int errno) {

        public Write {
            Objects.requireNonNull(outcome, "outcome");
            if (id <= 0 || blockCount <= 0 || firstBlock < 0) {
                throw new IllegalArgumentException("bad write: id " + id + ", first block " + firstBlock + ", "
                        + blockCount + " block(s)");
            }
            if ((outcome == Outcome.UNKNOWN) != (completeTick < 0) || completeTick >= 0 && completeTick <= issueTick) {
                throw new IllegalArgumentException("write " + id + " is " + outcome + " with issue tick " + issueTick
                        + " and completion tick " + completeTick);
            }
        }

        public long lastBlock() {
            return firstBlock + blockCount - 1;
        }

        public boolean covers(long block) {
            return block >= firstBlock && block <= lastBlock();
        }

        @JsonIgnore
        public boolean isCompleted() {
            return completeTick >= 0;
        }

        /** Whether this write was answered (OK or error) before {@code other} was issued. */
        public boolean happensBefore(Write other) {
            return isCompleted() && completeTick < other.issueTick;
        }
    }

    /** One FLUSH to volume {@code volume}; {@code completeTick} is -1 if it got no reply. */
    public record Flush(int volume, long issueTick, long completeTick, Outcome outcome) {
    }

    /** One block of one volume. */
    public record BlockRef(String volume, long block) {
    }

    /** The saved form. */
    record Document(String format, int version, long runId, long seed, List<Volume> volumes, List<Write> writes,
            List<Flush> flushes) {
    }

    private final long runId;
    private final long seed;
    private final List<Volume> volumes;
    private final List<Write> writes;
    private final List<Flush> flushes;
    private final Map<Long, Write> byId = new HashMap<>();
    private final Map<String, Volume> byName = new HashMap<>();

    /**
     * @param runId the run id every block of this run carries
     * @param seed the workload's seed, for the record
     * @param volumes the volumes, indexed 0..n-1 in order
     * @param writes every write issued, any order (kept sorted by id)
     * @param flushes every flush issued
     */
    public History(long runId, long seed, List<Volume> volumes, List<Write> writes, List<Flush> flushes) {
        this.runId = runId;
        this.seed = seed;
        this.volumes = List.copyOf(volumes);
        List<Write> sorted = new ArrayList<>(writes);
        sorted.sort(Comparator.comparingLong(Write::id));
        this.writes = List.copyOf(sorted);
        this.flushes = List.copyOf(flushes);
        for (int i = 0; i < this.volumes.size(); i++) {
            Volume volume = this.volumes.get(i);
            if (volume.index() != i) {
                throw new IllegalArgumentException("volume " + volume.name() + " has index " + volume.index()
                        + " at position " + i);
            }
            if (byName.put(volume.name(), volume) != null) {
                throw new IllegalArgumentException("volume " + volume.name() + " appears twice");
            }
        }
        for (Write write : this.writes) {
            if (write.volume() >= this.volumes.size()) {
                throw new IllegalArgumentException("write " + write.id() + " names volume index " + write.volume()
                        + ", there are " + this.volumes.size() + " volumes");
            }
            if (write.lastBlock() >= this.volumes.get(write.volume()).blocks()) {
                throw new IllegalArgumentException("write " + write.id() + " ends at block " + write.lastBlock()
                        + ", beyond the " + this.volumes.get(write.volume()).blocks() + " blocks of volume "
                        + this.volumes.get(write.volume()).name());
            }
            if (byId.put(write.id(), write) != null) {
                throw new IllegalArgumentException("write id " + write.id() + " appears twice");
            }
        }
    }

    public long runId() {
        return runId;
    }

    public long seed() {
        return seed;
    }

    public List<Volume> volumes() {
        return volumes;
    }

    /** The volume named {@code name}; IllegalArgumentException if there is none. */
    public Volume volume(String name) {
        Volume volume = byName.get(name);
        if (volume == null) {
            throw new IllegalArgumentException("no volume '" + name + "' in this history; it has " + byName.keySet());
        }
        return volume;
    }

    /** Every write, sorted by id. */
    public List<Write> writes() {
        return writes;
    }

    public List<Flush> flushes() {
        return flushes;
    }

    /** The write with this id, or null if this history never issued it. */
    public Write write(long id) {
        return byId.get(id);
    }

    public long acknowledged() {
        return count(w -> w.outcome() == Outcome.ACKNOWLEDGED);
    }

    public long failed() {
        return count(w -> w.outcome() == Outcome.FAILED);
    }

    public long unknown() {
        return count(w -> w.outcome() == Outcome.UNKNOWN);
    }

    /** The highest tick in this history (0 if empty). */
    public long lastTick() {
        long last = 0;
        for (Write write : writes) {
            last = Math.max(last, Math.max(write.issueTick(), write.completeTick()));
        }
        for (Flush flush : flushes) {
            last = Math.max(last, Math.max(flush.issueTick(), flush.completeTick()));
        }
        return last;
    }

    /**
     * The distinct blocks of writes issued after {@code tick}: blocks certainly written since then
     * (if they took effect at all).
     */
    public Set<BlockRef> blocksWrittenAfter(long tick) {
        return blocksOf(w -> w.issueTick() > tick);
    }

    /**
     * The distinct blocks of writes not answered by {@code tick}: those issued after it plus those
     * in flight at it. The blocks a correct dirty map since {@code tick} holds lie between
     * {@link #blocksWrittenAfter(long)} and this.
     */
    public Set<BlockRef> blocksMaybeWrittenAfter(long tick) {
        return blocksOf(w -> !w.isCompleted() || w.completeTick() > tick);
    }

    /** The block content write {@code write} put at {@code block}. */
    public byte[] content(Write write, long block) {
        if (!write.covers(block)) {
            throw new IllegalArgumentException("write " + write.id() + " covers blocks " + write.firstBlock() + ".."
                    + write.lastBlock() + ", not " + block);
        }
        return BlockPattern.block(header(write, block));
    }

    /** The header write {@code write} put at {@code block}. */
    public BlockPattern.Header header(Write write, long block) {
        Volume volume = volumes.get(write.volume());
        return new BlockPattern.Header(volume.index(), volume.hash(), runId, block, write.id());
    }

    /** Saves this history as JSON, e.g. next to a failed test's logs. */
    public void save(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            JSON.writeValue(file.toFile(), new Document(FORMAT, VERSION, runId, seed, volumes, writes, flushes));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot save the history to " + file, e);
        }
    }

    /** Loads a history saved by {@link #save(Path)}. */
    public static History load(Path file) {
        Document document;
        try {
            document = JSON.readValue(file.toFile(), Document.class);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read a history from " + file, e);
        }
        if (!FORMAT.equals(document.format())) {
            throw new IllegalArgumentException(file + " is not a workload history: format '" + document.format()
                    + "', expected '" + FORMAT + "'");
        }
        if (document.version() != VERSION) {
            throw new IllegalArgumentException(file + " has history format version " + document.version()
                    + "; this reader knows version " + VERSION);
        }
        return new History(document.runId(), document.seed(), document.volumes(), document.writes(),
                document.flushes() == null ? List.of() : document.flushes());
    }

    @Override
    public String toString() {
        return "history of run " + Long.toHexString(runId) + ": " + writes.size() + " writes to "
                + volumes.stream().map(Volume::name).toList() + " (" + acknowledged() + " acknowledged, " + failed()
                + " failed, " + unknown() + " unknown), " + flushes.size() + " flushes";
    }

    private long count(Predicate<Write> predicate) {
        return writes.stream().filter(predicate).count();
    }

    private Set<BlockRef> blocksOf(Predicate<Write> predicate) {
        Set<BlockRef> blocks = new LinkedHashSet<>();
        for (Write write : writes) {
            if (predicate.test(write)) {
                String name = volumes.get(write.volume()).name();
                for (long block = write.firstBlock(); block <= write.lastBlock(); block++) {
                    blocks.add(new BlockRef(name, block));
                }
            }
        }
        return blocks;
    }
}
