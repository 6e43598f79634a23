package io.doppel.engine.internal;

import java.util.List;
import java.util.TreeSet;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Position;

/**
 * Where two copies of a group's history part. Each journal keeps its epochs as
 * {@code (epoch, site, first seq)}; a seq means the same record on both sides while both
 * histories put it in the same epoch. The fork point is the last such seq that both journals
 * reach: records after it on either side are that side's own.
 */
final class ForkPoint {

    private ForkPoint() {
    }

    /** The epoch a history puts {@code seq} in (0 before its first entry). */
    static long epochAt(List<EpochEntry> history, long seq) {
        long e = 0;
        for (EpochEntry x : history) {
            if (x.firstSeq() <= seq) {
                e = x.epoch();
            } else {
                break;
            }
        }
        return e;
    }

    /**
     * The last position this copy holds alike with the other: the largest seq up to this copy's
     * head below which every epoch boundary of either history is at the same seq with the same
     * epoch. Seqs past the other's head count in its last epoch: a copy that pulled on while an
     * OPEN was under way holds records of that epoch which the OPEN's head does not show yet.
     */
    static Position of(List<EpochEntry> mine, Position myHead, List<EpochEntry> theirs, Position theirHead) {
        long limit = myHead.seq();
        // a history says nothing of the seqs before its first epoch (a copy that began with a
        // rebase): only seqs both histories cover are compared
        long from = Math.max(mine.isEmpty() ? 0 : mine.get(0).firstSeq(), theirs.isEmpty() ? 0 : theirs.get(0).firstSeq());
        TreeSet<Long> bounds = new TreeSet<>();
        bounds.add(from);
        for (EpochEntry x : mine) {
            bounds.add(x.firstSeq());
        }
        for (EpochEntry x : theirs) {
            bounds.add(x.firstSeq());
        }
        long fork = limit;
        for (long b : bounds) {
            if (b < from) {
                continue;
            }
            if (b > limit) {
                break;
            }
            if (epochAt(mine, b) != epochAt(theirs, b)) {
                fork = b - 1; // the first seq the two histories put in different epochs
                break;
            }
        }
        fork = Math.max(0, fork);
        return new Position(epochAt(mine, fork), fork);
    }

    /**
     * An epoch this site opened itself with records after the fork: it wrote in its own reign
     * after the histories parted.
     */
    static EpochEntry ownEpochAfter(List<EpochEntry> history, Position head, Position fork, String siteId) {
        for (EpochEntry x : history) {
            if (x.firstSeq() > fork.seq() && x.firstSeq() <= head.seq() && siteId.equals(x.siteId())) {
                return x;
            }
        }
        return null;
    }
}
