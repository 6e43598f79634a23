package io.doppel.itests.tools;

import io.doppel.itests.tools.History.Outcome;
import io.doppel.itests.tools.History.Write;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Judges replica images against the {@link History} of the workload that wrote the source.
 * <p>
 * Both checks rely on the workload never having two writes to one block in flight together: the
 * writes to a block then took effect in issue order, so "later" for one block means "issued
 * later". Across blocks the real order of concurrent writes is unknown; what the host saw is a
 * happens-before order: write {@code a} happens before write {@code b} if {@code a} was answered
 * before {@code b} was issued.
 * <ul>
 * <li>{@link #checkSync sync}: every block holds its last acknowledged write or a write issued
 * after it (of any outcome: it may have been applied); a block with no acknowledged write holds
 * zeros or any write of the history to it.</li>
 * <li>{@link #checkPrefix prefix}: the images of all volumes together could be the source's state
 * after some prefix of its writes. Every write found anywhere, and every write acknowledged before
 * the latest-issued write found was issued, must show in all its blocks, unless a later write to
 * the block hides it.</li>
 * </ul>
 * Torn and foreign blocks fail both checks. Writes answered with an error are never required:
 * the source may or may not have applied them.
 */
public final class ReplicaChecker {

    private ReplicaChecker() {
    }

    /** The check a synchronous replica must pass once the writes it acknowledged have stopped. */
    public static CheckResult checkSync(History history, Map<String, ReplicaImage> images) {
        validate(history, images);
        Violations violations = new Violations("sync");
        long checked = 0;
        for (History.Volume volume : history.volumes()) {
            ReplicaImage image = images.get(volume.name());
            BlockIndex index = new BlockIndex(history, volume);
            for (long block = 0; block < image.blocks(); block++, checked++) {
                ReplicaImage.Kind kind = image.kind(block);
                if (kind == ReplicaImage.Kind.TORN || kind == ReplicaImage.Kind.FOREIGN) {
                    violations.add(image.block(block).toString());
                    continue;
                }
                Write lastAcknowledged = index.latest(block, w -> w.outcome() == Outcome.ACKNOWLEDGED);
                if (lastAcknowledged == null) {
                    continue;
                }
                Write shown = kind == ReplicaImage.Kind.WRITE ? history.write(image.writeId(block)) : null;
                if (shown == null || shown.issueTick() < lastAcknowledged.issueTick()) {
                    violations.add(volume.name() + " block " + block + ": expected write " + lastAcknowledged.id()
                            + " (acknowledged at tick " + lastAcknowledged.completeTick() + ") or a later one, found "
                            + describe(shown));
                }
            }
        }
        return violations.result(checked);
    }

    /** The check of a replica that must be the source's state after some prefix of its writes. */
    public static CheckResult checkPrefix(History history, Map<String, ReplicaImage> images) {
        return checkPrefix(history, images, Long.MIN_VALUE);
    }

    /**
     * {@link #checkPrefix(History, Map)}, and the prefix must also contain every write acknowledged
     * before tick {@code mustContainAcknowledgedBefore} (an asynchronous replica that must have
     * caught up to that moment).
     */
    public static CheckResult checkPrefix(History history, Map<String, ReplicaImage> images,
            long mustContainAcknowledgedBefore) {
        validate(history, images);
        // the writes found, where each was first seen, and the one issued last
        Map<Long, String> foundAt = new HashMap<>();
        Write latestFound = null;
        for (History.Volume volume : history.volumes()) {
            ReplicaImage image = images.get(volume.name());
            for (long block = 0; block < image.blocks(); block++) {
                long id = image.writeId(block);
                if (id > 0 && foundAt.putIfAbsent(id, volume.name() + " block " + block) == null) {
                    Write write = history.write(id);
                    if (latestFound == null || write.issueTick() > latestFound.issueTick()) {
                        latestFound = write;
                    }
                }
            }
        }
        // the prefix holds the writes found and, closed under happens-before, every write
        // acknowledged before the last found one was issued
        long horizon = latestFound == null ? Long.MIN_VALUE : latestFound.issueTick();
        long requiredBefore = Math.max(horizon, mustContainAcknowledgedBefore);
        Set<Long> found = foundAt.keySet();

        Violations violations = new Violations("prefix");
        long checked = 0;
        for (History.Volume volume : history.volumes()) {
            ReplicaImage image = images.get(volume.name());
            BlockIndex index = new BlockIndex(history, volume);
            for (long block = 0; block < image.blocks(); block++, checked++) {
                ReplicaImage.Kind kind = image.kind(block);
                if (kind == ReplicaImage.Kind.TORN || kind == ReplicaImage.Kind.FOREIGN) {
                    violations.add(image.block(block).toString());
                    continue;
                }
                Write required = index.latest(block, w -> found.contains(w.id())
                        || w.outcome() == Outcome.ACKNOWLEDGED && w.completeTick() < requiredBefore);
                if (required == null) {
                    continue;
                }
                Write shown = kind == ReplicaImage.Kind.WRITE ? history.write(image.writeId(block)) : null;
                if (shown == null || shown.issueTick() < required.issueTick()) {
                    String why;
                    if (found.contains(required.id())) {
                        why = "found at " + foundAt.get(required.id());
                    } else if (required.completeTick() < horizon) {
                        why = "acknowledged at tick " + required.completeTick() + ", before write " + latestFound.id()
                                + " (found at " + foundAt.get(latestFound.id()) + ") was issued at tick " + horizon;
                    } else {
                        why = "acknowledged at tick " + required.completeTick() + ", before tick "
                                + mustContainAcknowledgedBefore;
                    }
                    violations.add(volume.name() + " block " + block + ": expected write " + required.id() + " ("
                            + why + ") or a later one, found " + describe(shown));
                }
            }
        }
        return violations.result(checked);
    }

    private static String describe(Write shown) {
        return shown == null ? "zeros"
                : "write " + shown.id() + " (" + shown.outcome().name().toLowerCase() + ", issued at tick "
                        + shown.issueTick() + ")";
    }

    private static void validate(History history, Map<String, ReplicaImage> images) {
        for (History.Volume volume : history.volumes()) {
            ReplicaImage image = images.get(volume.name());
            if (image == null) {
                throw new IllegalArgumentException("no image of volume " + volume.name() + "; images given: "
                        + images.keySet());
            }
            if (image.runId() != history.runId() || !image.volume().equals(volume)) {
                throw new IllegalArgumentException("the image of volume " + volume.name()
                        + " was decoded against another history");
            }
        }
        for (String name : images.keySet()) {
            history.volume(name);
        }
    }

    /** The writes to each block of one volume, in issue order. */
    private static final class BlockIndex {
        private final int[] start;
        private final Write[] writes;

        BlockIndex(History history, History.Volume volume) {
            int blocks = Math.toIntExact(volume.blocks());
            start = new int[blocks + 1];
            List<Write> mine = new ArrayList<>();
            for (Write write : history.writes()) {
                if (write.volume() == volume.index()) {
                    mine.add(write);
                    for (long block = write.firstBlock(); block <= write.lastBlock(); block++) {
                        start[(int) block + 1]++;
                    }
                }
            }
            for (int block = 0; block < blocks; block++) {
                start[block + 1] += start[block];
            }
            writes = new Write[start[blocks]];
            int[] next = Arrays.copyOf(start, blocks);
            for (Write write : mine) {
                for (long block = write.firstBlock(); block <= write.lastBlock(); block++) {
                    writes[next[(int) block]++] = write;
                }
            }
            for (int block = 0; block < blocks; block++) {
                Arrays.sort(writes, start[block], start[block + 1], Comparator.comparingLong(Write::issueTick));
            }
        }

        /** The write to {@code block} issued last among those {@code wanted} accepts, or null. */
        Write latest(long block, Predicate<Write> wanted) {
            for (int i = start[(int) block + 1] - 1; i >= start[(int) block]; i--) {
                if (wanted.test(writes[i])) {
                    return writes[i];
                }
            }
            return null;
        }
    }

    /** Counts every violation and keeps the first few lines. */
    private static final class Violations {
        private final String check;
        private final List<String> lines = new ArrayList<>();
        private long count;

        Violations(String check) {
            this.check = check;
        }

        void add(String line) {
            if (lines.size() < CheckResult.MAX_LINES) {
                lines.add(line);
            }
            count++;
        }

        CheckResult result(long checked) {
            return new CheckResult(check, count == 0, checked, lines, count);
        }
    }
}
