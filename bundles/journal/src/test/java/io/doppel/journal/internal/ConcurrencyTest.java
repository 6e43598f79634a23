package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalReader;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Appenders, a consumer reading and advancing its cursor, checkpoints, reclaim, overflow
 * folding, recycling and the background preallocator, all at once on real files.
 */
class ConcurrencyTest {

    @TempDir
    Path tmp;

    @Test
    void everythingAtOnce() throws Exception {
        FileStorage storage = new FileStorage();
        JournalSettings settings = new JournalSettings(Fixture.SEGMENT, 6 * Fixture.SEGMENT, Fixture.MAX_RECORD, 16, 64 << 10);
        ExecutorService prealloc = Executors.newSingleThreadExecutor();
        ExecutorService pool = Executors.newFixedThreadPool(6);
        int appenders = 3;
        int perAppender = 1500;
        AtomicLong folded = new AtomicLong();
        AtomicLong consumed = new AtomicLong();
        try (FileJournal j = FileJournal.open(storage, tmp, new JournalOptions("g", 1, 0), settings, prealloc, null)) {
            j.reclaimHandler(journal -> journal.checkpoint(journal.durable()));
            JournalCursor cursor = j.cursor("peer", (records, upTo) -> {
                while (records.next() != null) {
                    folded.incrementAndGet();
                }
            });
            AtomicBoolean stop = new AtomicBoolean();
            List<Future<?>> work = new ArrayList<>();
            for (int t = 0; t < appenders; t++) {
                int id = t;
                work.add(pool.submit(() -> {
                    for (int i = 0; i < perAppender; i++) {
                        int size = (i * 131 + id * 7) % 6000;
                        Position p = j.append(RecordKind.WRITE, id + 1, i * 4096L, size, Fixture.data(id * 1_000_000L + i, size));
                        j.activityLog().touch(id + 1, i * 4096L, Math.max(1, size), p.seq());
                        if (i % 10 == 0) {
                            j.force(p);
                        }
                    }
                    return null;
                }));
            }
            Future<?> consumer = pool.submit(() -> {
                while (!stop.get()) {
                    if (folded.get() == 0) {
                        // a consumer that starts late: the journal fills up and folds it first
                        Thread.onSpinWait();
                        continue;
                    }
                    Position from = cursor.position();
                    Position to = j.durable();
                    if (!to.isAfter(from)) {
                        Thread.onSpinWait();
                        continue;
                    }
                    try (JournalReader r = j.read(from, to)) {
                        JournalRecord rec;
                        long expect = from.seq() + 1;
                        while ((rec = r.next()) != null) {
                            assertThat(rec.seq()).isEqualTo(expect++);
                            int id = rec.volumeId() - 1;
                            int i = (int) (rec.offset() / 4096);
                            assertThat(Fixture.bytes(rec.data())).isEqualTo(
                                    Fixture.bytes(Fixture.data(id * 1_000_000L + i, (i * 131 + id * 7) % 6000)));
                            consumed.incrementAndGet();
                        }
                        cursor.advance(to);
                    } catch (JournalGapException e) {
                        // folded meanwhile: the cursor moved past what this read wanted
                        assertThat(cursor.position()).isGreaterThan(from);
                    }
                }
                return null;
            });
            Future<?> checkpointer = pool.submit(() -> {
                while (!stop.get()) {
                    j.checkpoint(j.durable());
                    long files = storage.list(tmp.resolve("g")).stream().map(f -> f.getFileName().toString())
                            .filter(n -> n.endsWith(".seg") || n.endsWith(".seg.tmp")).count();
                    assertThat(files).as("segment files never exceed the capacity").isLessThanOrEqualTo(6);
                    Thread.sleep(2);
                }
                return null;
            });
            for (Future<?> f : work) {
                f.get(60, TimeUnit.SECONDS);
            }
            stop.set(true);
            consumer.get(10, TimeUnit.SECONDS);
            checkpointer.get(10, TimeUnit.SECONDS);

            long total = (long) appenders * perAppender;
            assertThat(j.head().seq()).isEqualTo(total);
            assertThat(j.status().segments()).isLessThanOrEqualTo(6);
            System.out.printf("concurrency: %d records consumed, %d folded, %d segments recycled, %d forces%n", consumed.get(),
                    folded.get(), j.recycledSegments(), j.status().forces());
            assertThat(consumed.get()).isPositive();
            assertThat(folded.get()).as("the slow consumer was folded").isPositive();
            assertThat(j.recycledSegments()).as("released segments were reused").isPositive();
            j.force(j.head());
            List<JournalRecord> rest = Fixture.readAll(j);
            assertThat(rest).isNotEmpty();
            assertThat(rest.get(rest.size() - 1).seq()).isEqualTo(total);
        } finally {
            pool.shutdownNow();
            prealloc.shutdown();
            assertThat(prealloc.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        try (FileJournal j = FileJournal.open(storage, tmp, new JournalOptions("g", 1, 0), settings, Fixture.DIRECT, null)) {
            assertThat(j.recovery().tailDamage()).isEmpty();
            assertThat(j.head().seq()).isEqualTo((long) appenders * perAppender);
            List<JournalRecord> rest = Fixture.readAll(j);
            assertThat(rest.get(0).seq()).isEqualTo(j.retainedStart().seq() + 1);
            assertThat(rest.get(rest.size() - 1).seq()).isEqualTo((long) appenders * perAppender);
        }
    }
}
