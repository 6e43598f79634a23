package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real files: many appenders that each force their own record share fsyncs. */
class GroupCommitTest {

    @TempDir
    Path tmp;

    @Test
    void concurrentAppendersShareForces() throws Exception {
        int threads = 8;
        int perThread = 150;
        ExecutorService prealloc = Executors.newSingleThreadExecutor();
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        FileStorage storage = new FileStorage();
        JournalSettings settings = new JournalSettings(256 << 10, 64L << 20, 16 << 10, 64, 1 << 20);
        try (FileJournal j = FileJournal.open(storage, tmp, new JournalOptions("g", 1, 0), settings, prealloc, null)) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<String> monotonic = new AtomicReference<>();
            Future<?> watcher = pool.submit(() -> {
                Position last = Position.ZERO;
                while (!stop.get()) {
                    Position d = j.durable();
                    if (d.isBefore(last)) {
                        monotonic.set("durable went back from " + last + " to " + d);
                    }
                    last = d;
                    Thread.onSpinWait();
                }
            });
            List<Future<List<Long>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    List<Long> mine = new ArrayList<>();
                    for (int i = 0; i < perThread; i++) {
                        int size = 512 + (i * 31 + id) % 4096;
                        Position p = j.append(RecordKind.WRITE, id, i * 4096L, size, Fixture.data(id * 100_000L + i, size));
                        j.force(p);
                        assertThat(j.durable()).isGreaterThanOrEqualTo(p);
                        mine.add(p.seq());
                    }
                    return mine;
                }));
            }
            Set<Long> seqs = new HashSet<>();
            for (Future<List<Long>> f : results) {
                List<Long> mine = f.get();
                assertThat(mine).isSorted();
                seqs.addAll(mine);
            }
            stop.set(true);
            watcher.get();
            int total = threads * perThread;
            assertThat(seqs).hasSize(total);
            assertThat(seqs).allMatch(s -> s >= 1 && s <= total);
            assertThat(monotonic.get()).isNull();

            JournalStatus s = j.status();
            assertThat(s.head().seq()).isEqualTo(total);
            assertThat(s.forcedRecords()).isEqualTo(total);
            System.out.printf("group commit: %d records, %d forces, %.1f records per force%n", total, s.forces(),
                    s.forcedRecords() / (double) s.forces());
            assertThat(s.forces()).as("forces are shared").isLessThan(total);

            // every record is there with its content, in seq order
            List<JournalRecord> all = Fixture.readAll(j);
            assertThat(all).hasSize(total);
            for (int i = 0; i < total; i++) {
                JournalRecord r = all.get(i);
                assertThat(r.seq()).isEqualTo(i + 1);
                int id = r.volumeId();
                int n = (int) (r.offset() / 4096);
                assertThat(Fixture.bytes(r.data())).isEqualTo(Fixture.bytes(Fixture.data(id * 100_000L + n, 512 + (n * 31 + id) % 4096)));
            }
            j.checkpoint(j.head());
        } finally {
            pool.shutdownNow();
            prealloc.shutdownNow();
        }
        // reopened from the real files: clean, nothing lost
        try (FileJournal j = FileJournal.open(storage, tmp, new JournalOptions("g", 1, 0), settings, Fixture.DIRECT, null)) {
            assertThat(j.recovery().cleanShutdown()).isTrue();
            assertThat(j.head().seq()).isEqualTo((long) threads * perThread);
            assertThat(j.recovery().tailDamage()).isEmpty();
        }
    }

    @Test
    void realFilesAreLaidOutAsDocumented() throws Exception {
        FileStorage storage = new FileStorage();
        JournalSettings settings = new JournalSettings(256 << 10, 4L << 20, 16 << 10, 64, 1 << 20);
        try (FileJournal j = FileJournal.open(storage, tmp, new JournalOptions("alpha", 3, 0), settings, Fixture.DIRECT, null)) {
            for (int i = 0; i < 100; i++) {
                j.append(RecordKind.WRITE, 1, 0, 8192, Fixture.data(i, 8192));
            }
            j.checkpoint(j.head());
        }
        List<String> names = new ArrayList<>();
        for (Path p : storage.list(tmp.resolve("alpha"))) {
            names.add(p.getFileName().toString());
        }
        assertThat(names).contains("journal.meta", "activity.log");
        assertThat(names).anyMatch(n -> n.matches("segment-[0-9a-f]{16}\\.seg"));
        for (Path p : storage.list(tmp.resolve("alpha"))) {
            if (p.getFileName().toString().endsWith(".seg")) {
                assertThat(java.nio.file.Files.size(p)).as("segments are preallocated: %s", p).isEqualTo(256 << 10);
            }
        }
    }
}
