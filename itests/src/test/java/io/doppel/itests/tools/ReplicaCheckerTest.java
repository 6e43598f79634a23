package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.doppel.itests.tools.History.Outcome;
import io.doppel.itests.tools.History.Volume;
import io.doppel.itests.tools.History.Write;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The rules of both checks on a small hand-made history (see {@link HistoryTest#sample()}):
 *
 * <pre>
 * write  volume blocks  issued answered outcome
 *   1    a      0..1      1      2      acknowledged
 *   2    a      0         3      4      acknowledged   (overwrites 1 on block 0)
 *   3    b      0         5      8      acknowledged   (concurrent with 4)
 *   4    a      2         6      7      acknowledged
 *   5    b      1         9     10      failed (ENOSPC)
 *   6    a      3        11      -      unknown
 *   7    b      2        12     13      acknowledged
 * </pre>
 */
class ReplicaCheckerTest {

    private final History history = HistoryTest.sample();

    private TestImages images() {
        return new TestImages(history);
    }

    private List<Write> writes(long... ids) {
        List<Write> list = new ArrayList<>();
        for (long id : ids) {
            list.add(history.write(id));
        }
        return list;
    }

    @Test
    void syncPassesWithEveryAcknowledgedWriteWhateverBecameOfTheOthers() {
        assertThat(ReplicaChecker.checkSync(history, images().replay(writes(1, 2, 3, 4, 7)).decode()).ok()).isTrue();
        // the failed and the unknown write may have been applied as well
        CheckResult all = ReplicaChecker.checkSync(history, images().replay(writes(1, 2, 3, 4, 5, 6, 7)).decode());
        assertThat(all.ok()).isTrue();
        assertThat(all.blocksChecked()).isEqualTo(16);
        assertThat(all.violations()).isEmpty();
    }

    @Test
    void syncFailsOnAMissingOrOlderAcknowledgedWrite() {
        CheckResult missing = ReplicaChecker.checkSync(history, images().replay(writes(1, 2, 3, 4)).decode());
        assertThat(missing.ok()).isFalse();
        assertThat(missing.violationCount()).isEqualTo(1);
        assertThat(missing.violations()).singleElement().asString()
                .contains("b block 2").contains("expected write 7").contains("found zeros");

        CheckResult older = ReplicaChecker.checkSync(history, images().replay(writes(1, 3, 4, 7)).decode());
        assertThat(older.violations()).singleElement().asString()
                .contains("a block 0").contains("expected write 2").contains("found write 1");
    }

    @Test
    void syncAcceptsALaterWriteOfAnyOutcome() {
        History later = new History(1, 1, List.of(new Volume(0, "a", 2)), List.of(
                HistoryTest.write(1, 0, 0, 1, 1, 2, Outcome.ACKNOWLEDGED),
                new Write(2, 0, 0, 1, false, 3, 4, Outcome.FAILED, 5),
                HistoryTest.write(3, 0, 1, 1, 5, -1, Outcome.UNKNOWN)), List.of());
        TestImages images = new TestImages(later).apply(later.write(2)).apply(later.write(3));

        assertThat(ReplicaChecker.checkSync(later, images.decode()).ok()).isTrue();
        assertThat(ReplicaChecker.checkSync(later, new TestImages(later).apply(later.write(1)).decode()).ok()).isTrue();
        assertThat(ReplicaChecker.checkSync(later, new TestImages(later).decode()).ok()).isFalse();
    }

    @Test
    void prefixAcceptsEveryStateTheSourceCouldHavePassedThrough() {
        List<long[]> prefixes = List.of(new long[] {}, new long[] {1}, new long[] {1, 2}, new long[] {1, 2, 3},
                new long[] {1, 2, 4}, new long[] {1, 2, 3, 4, 5}, new long[] {1, 2, 3, 4, 6},
                new long[] {1, 2, 3, 4, 7}, new long[] {1, 2, 3, 4, 5, 6, 7});
        for (long[] prefix : prefixes) {
            CheckResult result = ReplicaChecker.checkPrefix(history, images().replay(writes(prefix)).decode());
            assertThat(result.ok()).as("prefix %s: %s", java.util.Arrays.toString(prefix), result).isTrue();
        }
    }

    @Test
    void prefixFailsWhenAWriteThatHappenedBeforeAFoundOneIsMissing() {
        // 3 was issued at tick 5, after 1 and 2 were answered
        CheckResult result = ReplicaChecker.checkPrefix(history, images().replay(writes(3)).decode());

        assertThat(result.ok()).isFalse();
        assertThat(result.violationCount()).isEqualTo(2);
        assertThat(result.violations()).anySatisfy(line -> assertThat(line).contains("a block 0")
                .contains("expected write 2").contains("before write 3 (found at b block 0) was issued at tick 5")
                .contains("found zeros"));
        assertThat(result.violations()).anySatisfy(line -> assertThat(line).contains("a block 1")
                .contains("expected write 1"));

        // 7 needs 3 across volumes
        CheckResult crossVolume = ReplicaChecker.checkPrefix(history, images().replay(writes(1, 2, 4, 7)).decode());
        assertThat(crossVolume.violations()).singleElement().asString().contains("b block 0")
                .contains("expected write 3");
    }

    @Test
    void prefixFailsOnAnOlderWriteUnderARequiredOne() {
        // block 0 shows 1 while 2, answered before 4 was issued, must be there
        CheckResult result = ReplicaChecker.checkPrefix(history, images().replay(writes(1, 4)).decode());

        assertThat(result.violations()).singleElement().asString().contains("a block 0").contains("expected write 2")
                .contains("found write 1");
    }

    @Test
    void prefixNeedsAFoundWriteInAllItsBlocks() {
        TestImages images = images().apply(history.write(1)).zero("a", 0);

        CheckResult result = ReplicaChecker.checkPrefix(history, images.decode());

        assertThat(result.violations()).singleElement().asString().contains("a block 0")
                .contains("expected write 1 (found at a block 1)");
    }

    @Test
    void prefixNeverRequiresAFailedWrite() {
        // 5 failed before 7 was issued: 7 without 5 is fine
        assertThat(ReplicaChecker.checkPrefix(history, images().replay(writes(1, 2, 3, 4, 7)).decode()).ok()).isTrue();
    }

    @Test
    void prefixCanDemandEveryWriteAcknowledgedBeforeATick() {
        Map<String, ReplicaImage> firstTwo = images().replay(writes(1, 2)).decode();

        assertThat(ReplicaChecker.checkPrefix(history, firstTwo, 5).ok()).isTrue();
        CheckResult behind = ReplicaChecker.checkPrefix(history, firstTwo, 9);
        assertThat(behind.ok()).isFalse();
        assertThat(behind.violations()).hasSize(2).allSatisfy(line -> assertThat(line).contains("before tick 9"));
        assertThat(behind.violations()).anySatisfy(line -> assertThat(line).contains("expected write 3"));
        assertThat(behind.violations()).anySatisfy(line -> assertThat(line).contains("expected write 4"));
    }

    @Test
    void tornAndForeignBlocksFailBothChecks() {
        TestImages images = images().replay(writes(1, 2, 3, 4, 7));
        byte[] torn = images.block("a", 2);
        torn[3000] ^= 1;
        images.set("a", 2, torn);
        images.set("a", 5, images.block("a", 1));
        images.set("a", 6, images.block("b", 2));
        images.set("a", 7, BlockPattern.block(new BlockPattern.Header(0, BlockPattern.volumeHash("a"),
                history.runId(), 7, 999)));
        images.set("b", 7, BlockPattern.block(new BlockPattern.Header(1, BlockPattern.volumeHash("b"), 0xbad, 7,
                7)));
        Map<String, ReplicaImage> decoded = images.decode();

        assertThat(decoded.get("a").kind(2)).isEqualTo(ReplicaImage.Kind.TORN);
        assertThat(decoded.get("a").violations()).extracting(ReplicaImage.Block::index).containsExactly(2L, 5L, 6L,
                7L);
        for (CheckResult result : List.of(ReplicaChecker.checkSync(history, decoded),
                ReplicaChecker.checkPrefix(history, decoded))) {
            assertThat(result.ok()).isFalse();
            assertThat(result.violationCount()).as(result.describe()).isEqualTo(5);
            assertThat(result.describe())
                    .contains("a block 2: TORN (CRC32C mismatch")
                    .contains("a block 5: FOREIGN (content of block 1 (write 1))")
                    .contains("a block 6: FOREIGN (block of volume b (write 7))")
                    .contains("a block 7: FOREIGN (write 999, which the history never issued)")
                    .contains("b block 7: FOREIGN (block of run bad");
        }
    }

    @Test
    void listsTwentyViolationsAndCountsTheRest() {
        History wide = new History(5, 5, List.of(new Volume(0, "v", 40)),
                List.of(HistoryTest.write(1, 0, 0, 30, 1, 2, Outcome.ACKNOWLEDGED)), List.of());

        CheckResult result = ReplicaChecker.checkSync(wide, new TestImages(wide).decode());

        assertThat(result.violationCount()).isEqualTo(30);
        assertThat(result.violations()).hasSize(CheckResult.MAX_LINES);
        assertThat(result.describe()).contains("sync check FAILED: 40 blocks checked, 30 violation(s)")
                .contains("... and 10 more");
        assertThatThrownBy(result::requireOk).isInstanceOf(AssertionError.class).hasMessageContaining("v block 0");
    }

    @Test
    void refusesImagesThatDoNotFitTheHistory() {
        Map<String, ReplicaImage> onlyA = Map.of("a", images().decode().get("a"));
        assertThatThrownBy(() -> ReplicaChecker.checkSync(history, onlyA))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no image of volume b");

        History other = new History(99, 1, history.volumes(), List.of(), List.of());
        Map<String, ReplicaImage> ofOther = new TestImages(other).decode();
        assertThatThrownBy(() -> ReplicaChecker.checkPrefix(history, ofOther))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("another history");
    }
}
