package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.RecordKind;
import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;

import org.junit.jupiter.api.Test;

/** The journal's own cost of an append, with a storage whose writes cost nothing. */
class AppendSpeedTest {

    @Test
    void appendingA4KiBRecordCostsWellUnderTenMicroseconds() throws IOException {
        JournalSettings settings = JournalSettings.defaults();
        try (FileJournal j = FileJournal.open(new NullStorage(), Path.of("/null"), new JournalOptions("g", 1, 0), settings, Runnable::run,
                null)) {
            j.reclaimHandler(journal -> journal.checkpoint(journal.head()));
            ByteBuffer data = Fixture.data(1, 4096);
            double best = Double.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                int n = 100_000;
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    j.append(RecordKind.WRITE, 1, i * 4096L, 4096, data);
                }
                best = Math.min(best, (System.nanoTime() - t0) / (double) n / 1000.0);
            }
            System.out.printf("append of a 4 KiB record: %.2f us (journal only, best of 5 rounds)%n", best);
            assertThat(best).isLessThan(10.0);
        }
    }

    /** Files that accept every write and read zeros. */
    private static final class NullStorage implements Storage {
        @Override
        public StorageFile open(Path path, boolean create) {
            return new StorageFile() {
                private long size;

                @Override
                public Path path() {
                    return path;
                }

                @Override
                public long size() {
                    return size;
                }

                @Override
                public int read(ByteBuffer dst, long position) {
                    return -1;
                }

                @Override
                public void write(ByteBuffer src, long position) {
                    size = Math.max(size, position + src.remaining());
                    src.position(src.limit());
                }

                @Override
                public void write(ByteBuffer[] srcs, long position) {
                    long p = position;
                    for (ByteBuffer b : srcs) {
                        p += b.remaining();
                        b.position(b.limit());
                    }
                    size = Math.max(size, p);
                }

                @Override
                public void setLength(long length) {
                    size = length;
                }

                @Override
                public void force() {
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public boolean exists(Path path) {
            return false;
        }

        @Override
        public void createDirectories(Path dir) {
        }

        @Override
        public List<Path> list(Path dir) {
            return List.of();
        }

        @Override
        public void deleteIfExists(Path path) {
        }

        @Override
        public void rename(Path from, Path to) {
        }

        @Override
        public void writeAtomically(Path target, ByteBuffer content) {
        }

        @Override
        public byte[] readAll(Path path) throws IOException {
            throw new NoSuchFileException(path.toString());
        }

        @Override
        public long usableSpace(Path dir) {
            return Long.MAX_VALUE;
        }

        @Override
        public long totalSpace(Path dir) {
            return Long.MAX_VALUE;
        }
    }
}
