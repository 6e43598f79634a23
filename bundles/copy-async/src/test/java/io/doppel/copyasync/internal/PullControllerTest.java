package io.doppel.copyasync.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;

import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;

import org.junit.jupiter.api.Test;

/**
 * Each input of the pull controller moved on its own, the others held at an ordinary value;
 * then the bounds and the order in which the rules decide.
 */
class PullControllerTest {

    private static final long MIB = 1 << 20;
    private static final AsyncSettings S = new AsyncSettings(1, 1000, 4 * MIB, 0.9, 0.9, true, 100_000_000);

    /** An ordinary observation: 10 records came back, nothing else remarkable; the previous wait 64 ms. */
    private static Obs ordinary() {
        return new Obs();
    }

    /** A mutable observation, so each test changes one input. */
    private static final class Obs {
        int records = 10;
        boolean more;
        long previous = 64;
        double link = 10e6;
        long localFree = 900 * MIB;
        long localCapacity = 1024 * MIB;
        double load = 0.3;
        long primaryUsed = 10 * MIB;
        long primaryCapacity = 1024 * MIB;
        double primaryLoad = 0.3;
        long appended = 100;
        int memo;

        PullObservation get() {
            return new PullObservation(records, records * 4096L, more, 1500, previous, link, localFree, localCapacity, load,
                    primaryUsed, primaryCapacity, primaryLoad, appended, memo);
        }

        /** Plans, and carries the plan's wait and memo into this observation, as the engine does. */
        PullPlan step() {
            PullPlan p = plan();
            previous = p.delayMillis();
            memo = p.memo();
            return p;
        }

        PullPlan plan() {
            return PullController.plan(S, get());
        }
    }

    private static PullObservation withLoad(Obs o, double load) {
        o.load = load;
        return o.get();
    }

    @Test
    void theOrdinaryCaseHalvesTheWaitBecauseRecordsCameBack() {
        assertThat(ordinary().plan()).isEqualTo(new PullPlan(32, 4 * MIB, "10 records came back"));
    }

    // ---- one input at a time -------------------------------------------------------------------

    @Test
    void theNumberOfRecordsReturned() {
        Obs o = ordinary();
        o.records = 0;
        assertThat(o.plan()).isEqualTo(new PullPlan(128, 4 * MIB, "no records came back"));
        o.records = 1;
        assertThat(o.plan().delayMillis()).isEqualTo(32);
        o.records = 1000;
        o.more = true;
        assertThat(o.plan()).isEqualTo(new PullPlan(1, 4 * MIB, "the primary holds more records"));
    }

    @Test
    void theLinkTraffic() {
        Obs o = ordinary();
        o.link = 79e6; // 79% of 100 MB/s
        assertThat(o.plan().delayMillis()).isEqualTo(32);
        o.link = 81e6;
        assertThat(o.plan()).isEqualTo(new PullPlan(128, 4 * MIB, "link 81% used (over 80%)"));
        // with the capacity not known, the rule is off
        PullPlan unknown = PullController.plan(new AsyncSettings(1, 1000, 4 * MIB, 0.9, 0.9, true, 0), o.get());
        assertThat(unknown.delayMillis()).isEqualTo(32);
    }

    @Test
    void theSecondarysFreeJournal() {
        Obs o = ordinary();
        o.localFree = 210 * MIB; // 20.5%
        assertThat(o.plan().delayMillis()).isEqualTo(32);
        o.localFree = 200 * MIB; // 19.5%
        PullPlan p = o.plan();
        assertThat(p.delayMillis()).isEqualTo(128);
        assertThat(p.reason()).isEqualTo("own journal 20% free (under 20%)");
        assertThat(p.maxBytes()).as("a pull no larger than a quarter of what is free").isEqualTo(4 * MIB);
        o.localFree = 8 * MIB;
        assertThat(o.plan().maxBytes()).isEqualTo(2 * MIB);
        o.localFree = 0;
        assertThat(o.plan().maxBytes()).as("never below the smallest pull").isEqualTo(AsyncSettings.MIN_PULL_BYTES);
    }

    @Test
    void theSecondarysLoad() {
        Obs o = ordinary();
        o.load = 0.89;
        assertThat(o.plan().delayMillis()).isEqualTo(32);
        o.load = 0.9;
        assertThat(o.plan().delayMillis()).as("at busyLoad: not yet").isEqualTo(32);
        o.load = 0.91;
        assertThat(o.plan()).isEqualTo(new PullPlan(128, 4 * MIB, "own load 0.91 (busy above 0.90)"));
        PullPlan off = PullController.plan(new AsyncSettings(1, 1000, 4 * MIB, 1.0, 0.9, true, 0), withLoad(o, 1.0));
        assertThat(off.delayMillis()).as("busyLoad 1 turns the rule off").isEqualTo(32);
    }

    @Test
    void thePrimarysJournalUsage() {
        Obs o = ordinary();
        o.records = 0; // nothing came back, which alone would lengthen the wait
        o.primaryUsed = 512 * MIB; // exactly half
        assertThat(o.plan().delayMillis()).isEqualTo(128);
        o.primaryUsed = 513 * MIB;
        assertThat(o.plan()).isEqualTo(new PullPlan(1, 4 * MIB, "backlog fills 50% of the primary's journal (over half)",
                PullController.DRAINING));
        o.primaryUsed = 900 * MIB;
        assertThat(o.plan().reason()).isEqualTo("backlog fills 88% of the primary's journal (over half)");
    }

    @Test
    void thePrimarysLoad() {
        Obs o = ordinary();
        o.more = true;
        o.primaryLoad = 0.89;
        assertThat(o.plan().delayMillis()).isEqualTo(1);
        o.primaryLoad = 0.95;
        assertThat(o.plan()).isEqualTo(new PullPlan(128, 4 * MIB, "primary saturated (load 0.95) by host writes; its journal holds them",
                PullController.YIELDING));
        // saturated but its hosts are not writing (the pulls themselves keep it busy): pull
        o.appended = 0;
        assertThat(o.plan().delayMillis()).isEqualTo(1);
        // yielding switched off
        o.appended = 100;
        PullPlan off = PullController.plan(new AsyncSettings(1, 1000, 4 * MIB, 0.9, 0.9, false, 100_000_000), o.get());
        assertThat(off.delayMillis()).isEqualTo(1);
    }

    @Test
    void aBacklogThatPassedHalfIsDrainedToAQuarterBeforeASaturatedPrimaryIsYieldedToAgain() {
        Obs o = ordinary();
        o.more = true;
        o.primaryLoad = 0.95;
        o.appended = 10; // hosts writing slowly: the journal has headroom for a long time
        o.primaryUsed = 600 * MIB; // 59%: over half
        assertThat(o.step()).isEqualTo(new PullPlan(1, 4 * MIB, "backlog fills 59% of the primary's journal (over half)",
                PullController.DRAINING));
        o.primaryUsed = 300 * MIB; // 29%: under half, over a quarter: still draining
        assertThat(o.step()).isEqualTo(new PullPlan(1, 4 * MIB, "the primary holds more records", PullController.DRAINING));
        assertThat(o.step().memo()).isEqualTo(PullController.DRAINING);
        o.primaryUsed = 250 * MIB; // 24%: drained
        PullPlan p = o.step();
        assertThat(p.reason()).startsWith("primary saturated");
        assertThat(p.delayMillis()).isEqualTo(2);
        assertThat(p.memo()).isEqualTo(PullController.YIELDING);
    }

    @Test
    void aPullAtTheShortestWaitDoesNotByItselfMeanDraining() {
        // pulling at 1 ms for another reason (more records, a dip) with a backlog over a quarter
        // that never passed half: a saturated primary is yielded to
        Obs o = ordinary();
        o.more = true;
        o.primaryLoad = 0.95;
        o.appended = 10;
        o.primaryUsed = 300 * MIB;
        o.previous = 1;
        assertThat(o.plan().reason()).startsWith("primary saturated");
        // negative control: the same observation after rule 2 is drained at the shortest wait
        o.memo = PullController.DRAINING;
        assertThat(o.plan().delayMillis()).isEqualTo(1);
    }

    @Test
    void onceYieldingALoadJustUnderTheMarkStillCountsAndADipHalvesTheWait() {
        Obs o = ordinary();
        o.more = true;
        o.appended = 10;
        o.previous = 1000;
        o.primaryLoad = 0.85; // under 0.9
        // negative control: not yielding before, so 0.85 is not saturated: the shortest wait
        assertThat(o.plan().delayMillis()).isEqualTo(1);
        o.memo = PullController.YIELDING;
        assertThat(o.plan()).isEqualTo(new PullPlan(1000, 4 * MIB, "primary saturated (load 0.85) by host writes; its journal holds them",
                PullController.YIELDING));
        o.primaryLoad = 0.7; // a real dip: one pull at half the wait, not the shortest
        assertThat(o.step()).isEqualTo(new PullPlan(500, 4 * MIB, "primary below saturation (load 0.70) after holding back: half the wait"));
        o.primaryLoad = 0.95; // the burst goes on: back to holding back, from the halved wait
        assertThat(o.step().delayMillis()).isEqualTo(1000);
        o.primaryLoad = 0.7;
        o.step();
        assertThat(o.step()).isEqualTo(new PullPlan(1, 4 * MIB, "the primary holds more records")); // still below: the burst ended
    }

    @Test
    void aSaturatedPrimaryIsYieldedToOnlyWhileItsJournalHasHeadroomForTheBurst() {
        Obs o = ordinary();
        o.more = true;
        o.primaryLoad = 0.95;
        o.previous = 1000;
        o.records = 1000; // 4 KiB records
        o.primaryUsed = 100 * MIB;
        o.appended = 25_600; // 100 MiB in the last second (1000 ms + 1.5 ms of pull): about 0.1 MiB/ms
        PullPlan p = o.plan();
        // 412 MiB to half at 0.1 MiB/ms is about 4120 ms: yield, and look again 2 s before the headroom is gone
        assertThat(p.reason()).startsWith("primary saturated");
        assertThat(p.delayMillis()).isEqualTo(1000);
        o.primaryUsed = 250 * MIB; // 262 MiB to half: about 2620 ms, so the next look within 620 ms
        assertThat(o.plan().reason()).startsWith("primary saturated");
        assertThat(o.plan().delayMillis()).isBetween(615L, 625L);
        o.primaryUsed = 350 * MIB; // 162 MiB to half: about 1620 ms, under the 2 s of headroom: pull
        assertThat(o.plan()).isEqualTo(new PullPlan(1, 4 * MIB, "the primary holds more records"));
        // negative control: the same backlog with the hosts writing ten times slower is yielded to
        o.appended = 2_560;
        assertThat(o.plan().reason()).startsWith("primary saturated");
    }

    @Test
    void aSmallJournalAtAHighWriteRateIsNotYieldedToAtAll() {
        Obs o = ordinary();
        o.more = true;
        o.primaryLoad = 1.0;
        o.previous = 1;
        o.records = 1000;
        o.primaryUsed = 0;
        o.primaryCapacity = 1024 * MIB;
        o.appended = 350; // 350 records in 2.5 ms: 140,000 writes a second, 0.55 GiB/s; half the journal in about 0.9 s
        assertThat(o.plan()).isEqualTo(new PullPlan(1, 4 * MIB, "the primary holds more records"));
        o.primaryCapacity = 16L * 1024 * MIB; // 16 GiB: about 15 s to half
        assertThat(o.plan().reason()).startsWith("primary saturated");
    }

    // ---- order of the rules --------------------------------------------------------------------

    @Test
    void aPrimaryJournalOverHalfFullOutweighsEveryReasonToWaitButAFullOwnJournal() {
        Obs o = ordinary();
        o.primaryUsed = 800 * MIB;
        o.load = 1.0;
        o.link = 99e6;
        o.primaryLoad = 1.0;
        o.records = 0;
        assertThat(o.plan().delayMillis()).isEqualTo(1);
        o.localFree = 10 * MIB;
        assertThat(o.plan().reason()).startsWith("own journal");
        assertThat(o.plan().delayMillis()).isEqualTo(128);
    }

    @Test
    void reasonsToWaitOutweighMoreRecordsAtThePrimary() {
        Obs o = ordinary();
        o.more = true;
        o.load = 0.95;
        assertThat(o.plan().reason()).startsWith("own load");
        o.load = 0.3;
        o.link = 95e6;
        assertThat(o.plan().reason()).startsWith("link");
    }

    // ---- bounds --------------------------------------------------------------------------------

    @Test
    void idlenessLengthensTheWaitToTheLongestAndABurstBringsItToTheShortest() {
        Obs o = ordinary();
        o.records = 0;
        o.previous = 1;
        long[] seen = new long[12];
        for (int i = 0; i < seen.length; i++) {
            seen[i] = o.plan().delayMillis();
            o.previous = seen[i];
        }
        assertThat(seen).containsExactly(2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000);
        o.records = 300;
        long d = 1000;
        for (int i = 0; i < 10; i++) {
            o.previous = d;
            d = o.plan().delayMillis();
        }
        assertThat(d).isEqualTo(1);
    }

    @Test
    void theWaitStaysWithinTheConfiguredBoundsWhateverIsObserved() {
        AsyncSettings s = new AsyncSettings(5, 700, 8 * MIB, 0.6, 0.7, true, 50_000_000);
        Random rnd = new Random(9);
        for (int i = 0; i < 100_000; i++) {
            long cap = rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(1 << 30);
            long pcap = rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(1 << 30);
            PullObservation o = new PullObservation(rnd.nextInt(5000), rnd.nextInt(1 << 24), rnd.nextBoolean(), rnd.nextInt(1 << 20),
                    rnd.nextInt(5) == 0 ? Long.MIN_VALUE + rnd.nextInt(10) : rnd.nextLong() % 5000, rnd.nextDouble() * 1e8,
                    cap == 0 ? 0 : rnd.nextLong(cap + 1), cap, rnd.nextDouble(), pcap == 0 ? 0 : rnd.nextLong(pcap + 1), pcap,
                    rnd.nextDouble(), rnd.nextInt(3) == 0 ? 0 : rnd.nextInt(1000), rnd.nextInt(4));
            PullPlan p = PullController.plan(s, o);
            assertThat(p.delayMillis()).as("%s", o).isBetween(5L, 700L);
            assertThat(p.maxBytes()).as("%s", o).isBetween(AsyncSettings.MIN_PULL_BYTES, 8 * MIB);
            assertThat(p.reason()).isNotBlank();
        }
    }
}
