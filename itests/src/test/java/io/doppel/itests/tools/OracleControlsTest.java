package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;

import io.doppel.itests.tools.History.Outcome;
import io.doppel.itests.tools.History.Write;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Controls of the checkers with a real primary: an {@link OracleWorkload} writes two volumes
 * through two {@code qemu-nbd}s; their image files are the source. Replicas that a broken
 * replication would produce are made from the source and the history, and the checks must catch
 * each; replicas a correct one could produce must pass.
 */
class OracleControlsTest {

    private static final int BLOCKS = 1024;

    @TempDir
    static Path dir;

    static History history;
    static Map<String, Path> files = new LinkedHashMap<>();
    static Map<String, ReplicaImage> source;

    @BeforeAll
    static void writeTheSource() {
        for (String volume : List.of("v0", "v1")) {
            files.put(volume, dir.resolve(volume + ".img"));
        }
        try (NbdServer v0 = NbdServer.qemuNbd(files.get("v0"), BLOCKS * 4096L, "v0", dir.resolve("v0.log"));
                NbdServer v1 = NbdServer.qemuNbd(files.get("v1"), BLOCKS * 4096L, "v1", dir.resolve("v1.log"));
                NbdClient c0 = v0.connect("v0"); NbdClient c1 = v1.connect("v1")) {
            history = OracleWorkload.builder(2024).volume("v0", c0).volume("v1", c1).queueDepth(16)
                    .maxWriteBlocks(6).fuaPercent(5).maxWrites(3000).build().run(Duration.ofSeconds(60));
        }
        assertThat(history.acknowledged()).isEqualTo(3000);
        source = decode(TestImages.copyOf(history, files));
    }

    @Test
    void theSourceItselfPassesBothChecks() {
        Map<String, ReplicaImage> fromFiles = Map.of(
                "v0", ReplicaImage.read(history, "v0", files.get("v0")),
                "v1", ReplicaImage.read(history, "v1", files.get("v1")));

        CheckResult sync = ReplicaChecker.checkSync(history, fromFiles).requireOk();
        ReplicaChecker.checkPrefix(history, fromFiles).requireOk();
        ReplicaChecker.checkPrefix(history, fromFiles, history.lastTick() + 1).requireOk();
        assertThat(sync.blocksChecked()).isEqualTo(2 * BLOCKS);
        assertThat(fromFiles.get("v0").count(ReplicaImage.Kind.WRITE)).isGreaterThan(BLOCKS / 2);
    }

    @Test
    void acknowledgingBeforeThePeerAnsweredFailsTheSyncCheck() {
        // the last five acknowledged writes still visible never reached the replica
        List<Write> lastVisible = history.writes().stream()
                .filter(w -> w.outcome() == Outcome.ACKNOWLEDGED && !visibleBlocks(w).isEmpty())
                .sorted(Comparator.comparingLong(Write::completeTick).reversed()).limit(5).toList();
        TestImages replica = TestImages.copyOf(history, files);
        long reverted = 0;
        for (Write write : lastVisible) {
            reverted += revert(replica, write);
        }

        CheckResult result = ReplicaChecker.checkSync(history, decode(replica));

        assertThat(result.ok()).isFalse();
        assertThat(result.violationCount()).isEqualTo(reverted);
        // every listed violation names a reverted write; all of them are listed when the list
        // is not cut at MAX_LINES (how many blocks the five writes cover varies from run to run)
        assertThat(result.violations()).allMatch(v -> lastVisible.stream()
                .anyMatch(w -> v.contains("expected write " + w.id() + " (acknowledged")));
        if (result.violationCount() <= CheckResult.MAX_LINES) {
            for (Write write : lastVisible) {
                assertThat(result.describe()).contains("expected write " + write.id() + " (acknowledged");
            }
        }
    }

    @Test
    void applyingALaterWriteWithoutAnEarlierOneFailsThePrefixCheck() {
        for (boolean sameVolume : new boolean[] {true, false}) {
            // a: acknowledged, fully visible; b: visible elsewhere, issued after a was answered
            Write a = null;
            Write b = null;
            for (Write candidate : history.writes()) {
                if (candidate.outcome() != Outcome.ACKNOWLEDGED
                        || visibleBlocks(candidate).size() != candidate.blockCount()) {
                    continue;
                }
                Optional<Write> later = history.writes().stream()
                        .filter(w -> candidate.happensBefore(w) && !visibleBlocks(w).isEmpty())
                        .filter(w -> (w.volume() == candidate.volume()) == sameVolume)
                        .filter(w -> w.volume() != candidate.volume() || w.firstBlock() > candidate.lastBlock()
                                || w.lastBlock() < candidate.firstBlock())
                        .findFirst();
                if (later.isPresent()) {
                    a = candidate;
                    b = later.get();
                    break;
                }
            }
            assertThat(a).as("a write with a visible successor (same volume: %s)", sameVolume).isNotNull();
            TestImages replica = TestImages.copyOf(history, files);
            revert(replica, a);

            CheckResult result = ReplicaChecker.checkPrefix(history, decode(replica));

            assertThat(result.ok()).as("write %d missing, %d applied", a.id(), b.id()).isFalse();
            assertThat(result.describe()).contains("expected write " + a.id());
            assertThat(result.violationCount()).isEqualTo(a.blockCount());
        }
    }

    @Test
    void droppingAWriteNothingVisibleDependsOnIsStillAPrefix() {
        // no write the replica shows was issued after it was answered: the source could have been without it
        Write last = history.writes().stream().sorted(Comparator.comparingLong(Write::issueTick).reversed())
                .filter(w -> visibleBlocks(w).size() == w.blockCount())
                .filter(w -> history.writes().stream().noneMatch(x -> w.happensBefore(x) && !visibleBlocks(x).isEmpty()))
                .findFirst().orElseThrow();
        TestImages replica = TestImages.copyOf(history, files);
        revert(replica, last);
        Map<String, ReplicaImage> images = decode(replica);

        ReplicaChecker.checkPrefix(history, images).requireOk();
        assertThat(ReplicaChecker.checkSync(history, images).ok()).isFalse();
        assertThat(ReplicaChecker.checkPrefix(history, images, history.lastTick() + 1).ok()).isFalse();
    }

    @Test
    void tornAndForeignBlocksAreCaught() {
        TestImages replica = TestImages.copyOf(history, files);
        long tornBlock = firstVisible("v0", 0);
        long copiedBlock = firstVisible("v0", tornBlock + 1);
        long otherVolumeBlock = firstVisible("v1", 0);
        byte[] torn = replica.block("v0", tornBlock);
        System.arraycopy(replica.block("v0", copiedBlock), 2048, torn, 2048, 2048);
        replica.set("v0", tornBlock, torn);
        replica.set("v0", copiedBlock + 1, replica.block("v0", copiedBlock));
        replica.set("v1", 5, replica.block("v0", copiedBlock));
        replica.set("v1", 6, BlockPattern.block(new BlockPattern.Header(1, BlockPattern.volumeHash("v1"),
                history.runId(), 6, 3001)));
        replica.set("v1", 7, BlockPattern.block(new BlockPattern.Header(1, BlockPattern.volumeHash("v1"),
                history.runId() + 1, 7, source.get("v1").writeId(otherVolumeBlock))));
        Map<String, ReplicaImage> images = decode(replica);

        for (CheckResult result : List.of(ReplicaChecker.checkSync(history, images),
                ReplicaChecker.checkPrefix(history, images))) {
            assertThat(result.ok()).isFalse();
            assertThat(result.describe())
                    .contains("v0 block " + tornBlock + ": TORN")
                    .contains("v0 block " + (copiedBlock + 1) + ": FOREIGN (content of block " + copiedBlock)
                    .contains("v1 block 5: FOREIGN (block of volume v0")
                    .contains("v1 block 6: FOREIGN (write 3001, which the history never issued)")
                    .contains("v1 block 7: FOREIGN (block of run");
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void everyPrefixPassesAndDroppingARequiredWriteFails(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        long lastTick = history.lastTick();
        long cut = lastTick / 4 + random.nextLong(lastTick * 3 / 4);

        // two orders the source may have applied the writes in: by issue, and by answer
        List<Write> issuedBefore = select(w -> w.issueTick() < cut);
        List<Write> answeredBefore = select(w -> w.isCompleted() && w.completeTick() < cut);
        for (List<Write> prefix : List.of(issuedBefore, answeredBefore)) {
            Map<String, ReplicaImage> images = decode(new TestImages(history).replay(prefix));
            CheckResult result = ReplicaChecker.checkPrefix(history, images);
            assertThat(result.ok()).as("prefix of %d writes before tick %d: %s", prefix.size(), cut, result).isTrue();
            if (prefix.size() < history.writes().size()) {
                // acknowledged writes are missing: a prefix is not a sync replica
                assertThat(ReplicaChecker.checkSync(history, images).ok()).isFalse();
            }
        }
        Map<String, ReplicaImage> issued = decode(new TestImages(history).replay(issuedBefore));
        ReplicaChecker.checkPrefix(history, issued, cut).requireOk();
        if (issuedBefore.size() < history.writes().size()) {
            assertThat(ReplicaChecker.checkPrefix(history, issued, lastTick + 1).ok()).isFalse();
        }

        // drop a write that a later write of the prefix depends on and that nothing in the prefix hides
        Set<Long> shown = new HashSet<>();
        issued.values().forEach(image -> {
            for (long block = 0; block < image.blocks(); block++) {
                shown.add(image.writeId(block));
            }
        });
        List<Write> droppable = issuedBefore.stream()
                .filter(w -> w.outcome() == Outcome.ACKNOWLEDGED && shown.contains(w.id()))
                .filter(w -> issuedBefore.stream().anyMatch(w::happensBefore))
                .toList();
        assertThat(droppable).isNotEmpty();
        Write dropped = droppable.get(random.nextInt(droppable.size()));
        List<Write> withoutIt = new ArrayList<>(issuedBefore);
        withoutIt.remove(dropped);

        CheckResult result = ReplicaChecker.checkPrefix(history, decode(new TestImages(history).replay(withoutIt)));

        assertThat(result.ok()).as("prefix before tick %d without write %d", cut, dropped.id()).isFalse();
        assertThat(result.describe()).contains("expected write " + dropped.id());
    }

    private static List<Write> select(Predicate<Write> predicate) {
        return history.writes().stream().filter(predicate).toList();
    }

    private static Map<String, ReplicaImage> decode(TestImages images) {
        return images.decode();
    }

    /** The blocks where the source shows {@code write}. */
    private static List<Long> visibleBlocks(Write write) {
        ReplicaImage image = source.get(history.volumes().get(write.volume()).name());
        List<Long> blocks = new ArrayList<>();
        for (long block = write.firstBlock(); block <= write.lastBlock(); block++) {
            if (image.writeId(block) == write.id()) {
                blocks.add(block);
            }
        }
        return blocks;
    }

    /** Puts back what each block where the source shows {@code write} held before it; returns how many. */
    private static int revert(TestImages replica, Write write) {
        String volume = history.volumes().get(write.volume()).name();
        List<Long> blocks = visibleBlocks(write);
        for (long block : blocks) {
            Optional<Write> previous = history.writes().stream()
                    .filter(w -> w.volume() == write.volume() && w.covers(block) && w.issueTick() < write.issueTick())
                    .max(Comparator.comparingLong(Write::issueTick));
            replica.set(volume, block, previous.map(w -> history.content(w, block)).orElse(new byte[4096]));
        }
        return blocks.size();
    }

    private static long firstVisible(String volume, long from) {
        ReplicaImage image = source.get(volume);
        for (long block = from; block < image.blocks(); block++) {
            if (image.kind(block) == ReplicaImage.Kind.WRITE) {
                return block;
            }
        }
        throw new AssertionError("no written block in " + volume + " from " + from);
    }
}
