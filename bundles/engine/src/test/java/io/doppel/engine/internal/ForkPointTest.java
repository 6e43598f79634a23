package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Position;

import org.junit.jupiter.api.Test;

class ForkPointTest {

    private static EpochEntry e(long epoch, String site, long firstSeq) {
        return new EpochEntry(epoch, site, firstSeq, firstSeq - 1);
    }

    private static Position p(long epoch, long seq) {
        return new Position(epoch, seq);
    }

    @Test
    void copiesOfOneHistoryDoNotPart() {
        List<EpochEntry> h = List.of(e(1, "a", 1));
        // a copy that pulled past the head its primary's OPEN named: those records came from it
        assertThat(ForkPoint.of(h, p(1, 500), h, p(1, 420))).isEqualTo(p(1, 500));
        assertThat(ForkPoint.of(h, p(1, 420), h, p(1, 500))).isEqualTo(p(1, 420));
    }

    @Test
    void aCopyAheadOfAPrimaryThatRestartedInANewEpochPartsWhereThePrimaryLostItsTail() {
        // A lost its unforced tail after 1/450 and restarted in epoch 2; B had received up to 1/480
        List<EpochEntry> a = List.of(e(1, "a", 1), e(2, "a", 451));
        List<EpochEntry> b = List.of(e(1, "replicated", 1));
        assertThat(ForkPoint.of(b, p(1, 480), a, p(2, 460))).isEqualTo(p(1, 450));
    }

    @Test
    void aTakeoverPartsTheHistoriesAtTheTakeoversPosition() {
        List<EpochEntry> a = List.of(e(1, "a", 1));
        List<EpochEntry> b = List.of(e(1, "replicated", 1), e(2, "b", 421));
        // A wrote on to 1/500 (records B never had), B from 2/421 on
        Position fork = ForkPoint.of(a, p(1, 500), b, p(2, 600));
        assertThat(fork).isEqualTo(p(1, 420));
        assertThat(ForkPoint.ownEpochAfter(a, p(1, 500), fork, "a")).as("A wrote in its old epoch only").isNull();
        // negative control: A had stopped at 1/420, nothing after the fork at A
        assertThat(ForkPoint.of(a, p(1, 420), b, p(2, 600))).isEqualTo(p(1, 420));
    }

    @Test
    void anEpochOpenedAtARestartCountsOnlyWithRecordsInIt() {
        List<EpochEntry> a = List.of(e(1, "a", 1), e(2, "a", 501));
        List<EpochEntry> b = List.of(e(1, "replicated", 1), e(2, "b", 421));
        Position fork = ForkPoint.of(a, p(1, 500), b, p(2, 600));
        assertThat(fork).isEqualTo(p(1, 420));
        assertThat(ForkPoint.ownEpochAfter(a, p(1, 500), fork, "a")).as("restart epoch without records").isNull();
        assertThat(ForkPoint.ownEpochAfter(a, p(2, 510), fork, "a")).as("A wrote in its own epoch after the fork")
                .isEqualTo(e(2, "a", 501));
    }

    @Test
    void aCopyThatStartedLaterIsNotADivergence() {
        // the copy's journal began with a rebase to 3/800: it knows nothing of seqs before 801
        List<EpochEntry> primary = List.of(e(1, "a", 1), e(2, "a", 100), e(3, "a", 700));
        List<EpochEntry> copy = List.of(e(3, "a", 801));
        assertThat(ForkPoint.of(copy, p(3, 900), primary, p(3, 950))).isEqualTo(p(3, 900));
    }
}
