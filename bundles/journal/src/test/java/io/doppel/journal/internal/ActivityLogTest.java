package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;

import io.doppel.api.journal.ActivityExtent;
import io.doppel.api.journal.ActivityLog;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class ActivityLogTest {

    private static final long EXTENT = 64 << 10;
    private final SimulatedStorage storage = new SimulatedStorage();

    private FileJournal open(int extents) throws IOException {
        return Fixture.open(storage, Fixture.settings(16 * Fixture.SEGMENT, extents, EXTENT));
    }

    private static long write(FileJournal j, int volume, long offset, int length) throws IOException {
        Position p = j.append(RecordKind.WRITE, volume, offset, length, Fixture.data(offset, length));
        j.activityLog().touch(volume, offset, length, p.seq());
        return p.seq();
    }

    @Test
    void touchedExtentsArePresentAfterAPowerCut() throws IOException {
        FileJournal j = open(16);
        write(j, 1, 0, 4096);
        write(j, 1, EXTENT - 100, 200); // spans extents 0 and 1
        write(j, 2, 10 * EXTENT, 4096);
        assertThat(j.activityLog().extents()).containsExactlyInAnyOrder(new ActivityExtent(1, 0), new ActivityExtent(1, 1),
                new ActivityExtent(2, 10));
        storage.simulatePowerCut(42);

        FileJournal r = open(16);
        assertThat(r.recovery().activityLog()).containsExactly(new ActivityExtent(1, 0), new ActivityExtent(1, 1),
                new ActivityExtent(2, 10));
        assertThat(r.activityLog().extents()).as("they stay hot until evicted").hasSize(3);
    }

    @Test
    void hotExtentsCostNoWrite() throws IOException {
        try (FileJournal j = open(4)) {
            ActivityLogImpl log = (ActivityLogImpl) j.activityLog();
            write(j, 1, 0, 4096);
            long writes = log.writes();
            Position durable = j.durable();
            for (int i = 0; i < 50; i++) {
                write(j, 1, 4096L * (i % 16), 4096);
            }
            assertThat(log.writes()).isEqualTo(writes);
            assertThat(j.durable()).isEqualTo(durable);
        }
    }

    @Test
    void evictingAnExtentWithANonDurableRecordForcesTheJournal() throws IOException {
        try (FileJournal j = open(2)) {
            ActivityLog log = j.activityLog();
            long a = write(j, 1, 0, 4096);
            long b = write(j, 1, EXTENT, 4096);
            assertThat(j.durable().seq()).as("negative control: nothing forced yet").isZero();
            write(j, 1, 0, 4096); // A is used again: B is now least recently used
            long c = write(j, 1, 5 * EXTENT, 4096);
            assertThat(log.extents()).containsExactlyInAnyOrder(new ActivityExtent(1, 0), new ActivityExtent(1, 5));
            assertThat(j.durable().seq()).as("B's last record was forced before B left the log").isGreaterThanOrEqualTo(b);
            assertThat(a).isLessThan(b).isLessThan(c);
        }
    }

    @Test
    void aRangeWiderThanTheLogForcesTheRecordInstead() throws IOException {
        try (FileJournal j = open(2)) {
            long s = write(j, 1, 0, (int) (3 * EXTENT) > Fixture.MAX_RECORD ? Fixture.MAX_RECORD : (int) (3 * EXTENT));
            // 16 KiB spans one 64 KiB extent; use a TRIM over four extents instead
            Position trim = j.append(RecordKind.TRIM, 1, 0, 4 * EXTENT, null);
            j.activityLog().touch(1, 0, 4 * EXTENT, trim.seq());
            assertThat(j.durable()).isEqualTo(trim);
            assertThat(s).isLessThan(trim.seq());
        }
    }

    @Test
    void aCleanCloseEmptiesTheLogAndAnUncleanOneDoesNot() throws IOException {
        FileJournal j = open(8);
        write(j, 1, 0, 4096);
        write(j, 3, 7 * EXTENT, 4096);
        j.close(); // checkpoint behind the head: not clean
        FileJournal r = open(8);
        assertThat(r.recovery().cleanShutdown()).isFalse();
        assertThat(r.recovery().activityLog()).containsExactly(new ActivityExtent(1, 0), new ActivityExtent(3, 7));
        r.checkpoint(r.head());
        r.close();

        FileJournal c = open(8);
        assertThat(c.recovery().cleanShutdown()).isTrue();
        assertThat(c.recovery().activityLog()).isEmpty();
        assertThat(c.activityLog().extents()).isEmpty();
        c.close();
    }

    @Test
    void anotherCapacityOrExtentSizeKeepsWhatWasHot() throws IOException {
        FileJournal j = open(4);
        write(j, 1, 0, 4096);
        write(j, 1, 3 * EXTENT, 4096);
        storage.simulatePowerCut(1);

        // twice the extents, half their size: the same bytes, in finer extents
        FileJournal r = Fixture.open(storage, Fixture.settings(16 * Fixture.SEGMENT, 8, EXTENT / 2));
        assertThat(r.recovery().activityLog()).containsExactly(new ActivityExtent(1, 0), new ActivityExtent(1, 1),
                new ActivityExtent(1, 6), new ActivityExtent(1, 7));
        storage.simulatePowerCut(2);

        FileJournal again = Fixture.open(storage, Fixture.settings(16 * Fixture.SEGMENT, 8, EXTENT / 2));
        assertThat(again.recovery().activityLog()).as("the rewritten log still holds them").hasSize(4);
    }
}
