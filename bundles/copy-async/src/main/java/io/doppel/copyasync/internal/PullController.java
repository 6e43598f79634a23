package io.doppel.copyasync.internal;

import java.util.Locale;

import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;

/**
 * Sets the wait before the next pull and its size from what the last pull saw. The wait moves
 * from the previous one: halved or cut to the shortest when records come back, doubled when
 * there is a reason to hold back or nothing came, and always kept between the configured
 * shortest and longest. The first rule that holds decides, in this order:
 *
 * <ol>
 * <li>the secondary's journal is under 20% free: longer, and smaller pulls (it cannot hold more
 *     until it applies and releases);</li>
 * <li>what the primary's journal holds for this secondary fills over half of it: the shortest
 *     (before it is folded into a difference map, which costs a resync);</li>
 * <li>the link carries over 80% of its capacity: longer (pulling sooner adds no capacity);</li>
 * <li>the secondary is busy with other work: longer (its hosts come first);</li>
 * <li>the primary is saturated while its hosts write: longer (its journal absorbs the burst,
 *     up to half of it by rule 2), only while at the primary's append rate the backlog would
 *     take at least {@value #YIELD_HEADROOM_MILLIS} ms more to fill half of the journal, and
 *     never longer than the time left to that point; not while draining a backlog that passed
 *     half, until it is under a quarter again. Once yielding, a load up to
 *     {@value #YIELD_RELEASE_MARGIN} under the mark still counts as saturated, and a dip below
 *     that halves the wait rather than cutting it to the shortest;</li>
 * <li>the primary holds more than the pull returned: the shortest;</li>
 * <li>records came back: half the previous wait;</li>
 * <li>none came back: twice the previous wait.</li>
 * </ol>
 */
final class PullController {

    static final double LOW_FREE_SHARE = 0.2;
    static final double PRIMARY_HALF = 0.5;
    static final double PRIMARY_QUARTER = 0.25;
    /**
     * A saturated primary is yielded to only while its journal could take this much more of the
     * burst before the backlog fills half of it. A journal that holds less than that at the
     * hosts' rate gains the hosts little and would leave the copy a backlog it cannot drain
     * while they write: it would be folded.
     */
    static final long YIELD_HEADROOM_MILLIS = 2000;
    /** A 4 KiB write with its header, when the last pull returned nothing to measure. */
    static final double DEFAULT_RECORD_BYTES = 4096 + 64;
    static final double LINK_BUSY_SHARE = 0.8;
    /**
     * Once yielding, the primary counts as saturated down to this much under primaryBusyLoad:
     * its load, sampled over a fifth of a second, dips now and then within a burst.
     */
    static final double YIELD_RELEASE_MARGIN = 0.1;
    /** Memo bit: a backlog passed half of the primary's journal and is being drained to a quarter. */
    static final int DRAINING = 1;
    /** Memo bit: the plan held back for a saturated primary. */
    static final int YIELDING = 2;

    private PullController() {
    }

    static PullPlan plan(AsyncSettings s, PullObservation o) {
        long previous = clamp(s, o.previousDelayMillis());
        long bytes = s.pullBytes();
        boolean draining = draining(o);
        int keep = draining ? DRAINING : 0;
        if (o.localJournalCapacity() > 0 && o.localJournalFree() < LOW_FREE_SHARE * o.localJournalCapacity()) {
            // never below the smallest pull, so a nearly full journal still moves
            bytes = Math.max(AsyncSettings.MIN_PULL_BYTES, Math.min(bytes, o.localJournalFree() / 4));
            return new PullPlan(longer(s, previous), bytes, "own journal " + pct(o.localJournalFree(), o.localJournalCapacity())
                    + " free (under 20%)", keep);
        }
        if (o.primaryJournalCapacity() > 0 && o.primaryJournalUsed() > PRIMARY_HALF * o.primaryJournalCapacity()) {
            return new PullPlan(s.minIntervalMillis(), bytes, "backlog fills " + pct(o.primaryJournalUsed(), o.primaryJournalCapacity())
                    + " of the primary's journal (over half)", DRAINING);
        }
        if (s.linkBytesPerSecond() > 0 && o.linkBytesPerSecond() > LINK_BUSY_SHARE * s.linkBytesPerSecond()) {
            return new PullPlan(longer(s, previous), bytes, "link " + pct((long) o.linkBytesPerSecond(), s.linkBytesPerSecond())
                    + " used (over 80%)", keep);
        }
        if (o.load() > s.busyLoad()) {
            return new PullPlan(longer(s, previous), bytes, "own load " + load(o.load()) + " (busy above " + load(s.busyLoad()) + ")",
                    keep);
        }
        if (s.yieldToBusyPrimary() && o.primaryAppended() > 0 && !draining) {
            boolean wasYielding = (o.previousMemo() & YIELDING) != 0;
            boolean saturated = o.primaryLoad() >= s.primaryBusyLoad()
                    || wasYielding && o.primaryLoad() >= s.primaryBusyLoad() - YIELD_RELEASE_MARGIN;
            long roomMillis = millisToHalf(o);
            if (saturated && roomMillis >= YIELD_HEADROOM_MILLIS) {
                // the next look comes while the journal still has the headroom left
                long wait = Math.min(longer(s, previous), roomMillis - YIELD_HEADROOM_MILLIS);
                return new PullPlan(clamp(s, wait), bytes, "primary saturated (load " + load(o.primaryLoad())
                        + ") by host writes; its journal holds them", YIELDING);
            }
            if (wasYielding && roomMillis >= YIELD_HEADROOM_MILLIS) {
                // a dip within a burst is more often a pause than its end: one pull at half the
                // wait, and the shortest only if the primary is still below saturation after it
                return new PullPlan(clamp(s, previous / 2), bytes, "primary below saturation (load " + load(o.primaryLoad())
                        + ") after holding back: half the wait", 0);
            }
        }
        if (o.moreAvailable()) {
            return new PullPlan(s.minIntervalMillis(), bytes, "the primary holds more records", keep);
        }
        if (o.records() > 0) {
            return new PullPlan(clamp(s, previous / 2), bytes, o.records() + " records came back", keep);
        }
        return new PullPlan(longer(s, previous), bytes, "no records came back", keep);
    }

    /**
     * Whether the secondary is draining a backlog that passed half of the primary's journal: a
     * previous plan said so (rule 2 set it) and the backlog still fills a quarter or more. Until
     * it is back under a quarter, a saturated primary does not make it wait again; otherwise a
     * burst that outlasts the journal would keep the backlog at half, one hiccup away from a fold.
     */
    private static boolean draining(PullObservation o) {
        return (o.previousMemo() & DRAINING) != 0 && o.primaryJournalCapacity() > 0
                && o.primaryJournalUsed() >= PRIMARY_QUARTER * o.primaryJournalCapacity();
    }

    /**
     * How long, at the rate the primary appended since the last pull, until the backlog fills
     * half of the primary's journal; {@code Long.MAX_VALUE} when nothing is appended.
     */
    private static long millisToHalf(PullObservation o) {
        double span = Math.max(1, o.previousDelayMillis()) + o.pullMicros() / 1000.0;
        double recordBytes = o.records() > 0 ? (double) o.bytes() / o.records() : DEFAULT_RECORD_BYTES;
        double bytesPerMilli = o.primaryAppended() * recordBytes / span;
        if (bytesPerMilli <= 0 || o.primaryJournalCapacity() <= 0) {
            return Long.MAX_VALUE;
        }
        double room = PRIMARY_HALF * o.primaryJournalCapacity() - o.primaryJournalUsed();
        return room <= 0 ? 0 : (long) Math.min(Long.MAX_VALUE / 2, room / bytesPerMilli);
    }

    private static long longer(AsyncSettings s, long previous) {
        return clamp(s, previous > s.maxIntervalMillis() / 2 ? s.maxIntervalMillis() : previous * 2);
    }

    private static long clamp(AsyncSettings s, long millis) {
        return Math.max(s.minIntervalMillis(), Math.min(s.maxIntervalMillis(), millis));
    }

    private static String pct(long part, long whole) {
        return String.format(Locale.ROOT, "%.0f%%", 100.0 * part / whole);
    }

    private static String load(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
