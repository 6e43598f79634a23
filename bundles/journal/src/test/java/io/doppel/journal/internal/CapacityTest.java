package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalFullException;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.journal.JournalOptions;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class CapacityTest {

    private static final int SIZE = 8000;
    private final SimulatedStorage storage = new SimulatedStorage();

    /** Four segments of 64 KiB: about 30 records of 8000 bytes fill it. */
    private FileJournal small() throws IOException {
        return Fixture.open(storage, Fixture.settings(4 * Fixture.SEGMENT));
    }

    private static Position write(FileJournal j, long i) throws IOException {
        return j.append(RecordKind.WRITE, 1, i * 4096, SIZE, Fixture.data(i, SIZE));
    }

    @Test
    void aFullJournalAsksTheReclaimHandlerFirst() throws IOException {
        try (FileJournal j = small()) {
            AtomicInteger reclaims = new AtomicInteger();
            j.reclaimHandler(journal -> {
                reclaims.incrementAndGet();
                journal.checkpoint(journal.head());
            });
            for (int i = 1; i <= 300; i++) {
                write(j, i);
                assertThat(j.status().segments()).isLessThanOrEqualTo(4);
            }
            assertThat(reclaims.get()).isPositive();
            assertThat(j.head().seq()).isEqualTo(300);
            assertThat(Fixture.readAll(j)).last().extracting(JournalRecord::seq).isEqualTo(300L);
        }
    }

    @Test
    void withoutAReclaimHandlerAFullJournalFailsNamingTheCheckpoint() throws IOException {
        try (FileJournal j = small()) {
            JournalFullException e = null;
            for (int i = 1; i <= 100 && e == null; i++) {
                try {
                    write(j, i);
                } catch (JournalFullException full) {
                    e = full;
                }
            }
            assertThat(e).isNotNull();
            assertThat(e.getMessage()).contains("group " + Fixture.GROUP).contains("capacity").contains(String.valueOf(4 * Fixture.SEGMENT))
                    .contains("checkpoint");
        }
    }

    @Test
    void aLaggingCursorIsFoldedThroughItsOverflowHandler() throws IOException {
        try (FileJournal j = small()) {
            j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
            List<long[]> folds = new ArrayList<>();
            List<Long> seen = new ArrayList<>();
            JournalCursor[] cursor = new JournalCursor[1];
            cursor[0] = j.cursor("peer-c", (records, upTo) -> {
                Position from = cursor[0].position();
                JournalRecord r;
                long first = -1;
                long last = -1;
                while ((r = records.next()) != null) {
                    assertThat(Fixture.bytes(r.data())).isEqualTo(Fixture.bytes(Fixture.data(r.seq(), SIZE)));
                    first = first < 0 ? r.seq() : first;
                    last = r.seq();
                    seen.add(r.seq());
                }
                folds.add(new long[] {from.seq(), first, last, upTo.seq()});
            });
            for (int i = 1; i <= 200; i++) {
                write(j, i);
            }
            assertThat(folds).isNotEmpty();
            long expectFrom = 0;
            for (long[] f : folds) {
                assertThat(f[0]).as("fold starts at the cursor").isEqualTo(expectFrom);
                assertThat(f[1]).as("first record folded is just after the cursor").isEqualTo(f[0] + 1);
                assertThat(f[2]).as("last record folded is upTo").isEqualTo(f[3]);
                expectFrom = f[3];
            }
            assertThat(cursor[0].position().seq()).isEqualTo(folds.get(folds.size() - 1)[3]);
            assertThat(seen).doesNotHaveDuplicates();
            assertThat(j.head().seq()).isEqualTo(200);
        }
    }

    /**
     * Room is made in the background once a quarter of the capacity is left, so the append that
     * would find the journal full never folds or checkpoints itself: those stall host writes.
     * The appender here waits for each background pass to end, as a host sees no wait when
     * the pass is faster than the journal fills.
     */
    @Test
    void roomIsMadeInTheBackgroundBeforeAnAppendFindsTheJournalFull() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> new Thread(r, "room-maker"));
        try (FileJournal j = FileJournal.open(storage, Fixture.ROOT, new JournalOptions(Fixture.GROUP, Fixture.GROUP_ID, 0),
                Fixture.settings(8 * Fixture.SEGMENT), pool, null)) {
            List<String> reclaimThreads = new ArrayList<>();
            List<String> foldThreads = new ArrayList<>();
            j.reclaimHandler(journal -> {
                synchronized (reclaimThreads) {
                    reclaimThreads.add(Thread.currentThread().getName());
                }
                journal.checkpoint(journal.head());
            });
            List<Long> folded = new ArrayList<>();
            j.cursor("peer-c", (records, upTo) -> {
                synchronized (foldThreads) {
                    foldThreads.add(Thread.currentThread().getName());
                }
                for (JournalRecord r = records.next(); r != null; r = records.next()) {
                    folded.add(r.seq());
                }
            });
            for (int i = 1; i <= 400; i++) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (j.makingRoom()) {
                    assertThat(System.nanoTime()).as("a background pass ends").isLessThan(deadline);
                    Thread.onSpinWait();
                }
                write(j, i);
                assertThat(j.status().segments()).isLessThanOrEqualTo(8);
            }
            assertThat(foldThreads).as("folds").isNotEmpty().containsOnly("room-maker");
            assertThat(reclaimThreads).as("reclaims").isNotEmpty().containsOnly("room-maker");
            assertThat(folded).doesNotHaveDuplicates();
            assertThat(folded.get(0)).isEqualTo(1L);
            assertThat(folded.get(folded.size() - 1) - folded.get(0) + 1).isEqualTo(folded.size());
            assertThat(j.head().seq()).isEqualTo(400);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aCursorWithoutHandlerIsNeverFoldedAndIsNamed() throws IOException {
        try (FileJournal j = small()) {
            j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
            JournalCursor backup = j.cursor("backup-1", null);
            JournalFullException e = null;
            int i = 1;
            for (; i <= 100 && e == null; i++) {
                try {
                    write(j, i);
                } catch (JournalFullException full) {
                    e = full;
                }
            }
            assertThat(e).isNotNull();
            assertThat(e.getMessage()).contains("backup-1").contains("no overflow handler").contains("capacity");
            assertThat(backup.position()).isEqualTo(Position.ZERO);
            // still readable from the cursor
            assertThat(Fixture.read(j, backup.position(), j.head())).hasSize((int) j.head().seq());
            // once the cursor moves, appends work again
            backup.advance(j.head());
            write(j, 1000);
        }
    }

    @Test
    void aFullDiskFailsTheAppendNamingTheFileAndRecovers() throws IOException {
        try (FileJournal j = Fixture.open(storage, Fixture.settings(32 * Fixture.SEGMENT))) {
            for (int i = 1; i <= 5; i++) {
                write(j, i);
            }
            // the current segment and the one prepared ahead exist; nothing more fits
            storage.capacity(storage.usedBytes());
            IOException e = null;
            int i = 6;
            for (; i <= 100 && e == null; i++) {
                try {
                    write(j, i);
                } catch (IOException failure) {
                    e = failure;
                }
            }
            assertThat(e).isNotNull().isNotInstanceOf(JournalFullException.class);
            assertThat(e.getMessage()).contains("No space left on device").contains(Fixture.dir().resolve("segment-").toString());
            Position head = j.head();
            assertThat(Fixture.readAll(j)).hasSize((int) head.seq());
            j.force(head);

            storage.capacity(Long.MAX_VALUE);
            Position p = write(j, 500);
            assertThat(p.seq()).isEqualTo(head.seq() + 1);
            j.force(p);
            assertThat(Fixture.readAll(j)).hasSize((int) p.seq());
        }
    }
}
