package io.doppel.storage.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import io.doppel.api.storage.StorageFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileStorageTest {

    @TempDir
    Path dir;

    private final FileStorage storage = new FileStorage();

    @Test
    void positionalAndGatheringWritesReadBack() throws IOException {
        try (StorageFile f = storage.open(dir.resolve("f"), true)) {
            f.write(ByteBuffer.wrap("abc".getBytes(StandardCharsets.US_ASCII)), 10);
            f.write(new ByteBuffer[] {ByteBuffer.wrap("xy".getBytes()), ByteBuffer.wrap("z".getBytes())}, 0);
            f.force();
            ByteBuffer b = ByteBuffer.allocate(13);
            assertThat(f.read(b, 0)).isEqualTo(13);
            assertThat(new String(b.array(), 0, 3)).isEqualTo("xyz");
            assertThat(new String(b.array(), 10, 3)).isEqualTo("abc");
            assertThat(f.read(ByteBuffer.allocate(1), 13)).isEqualTo(-1);
        }
    }

    @Test
    void setLengthMakesASparseFile() throws IOException {
        try (StorageFile f = storage.open(dir.resolve("sparse"), true)) {
            f.setLength(1L << 30);
            assertThat(f.size()).isEqualTo(1L << 30);
        }
        // A sparse 1 GiB file occupies next to nothing.
        Object blocks = Files.getAttribute(dir.resolve("sparse"), "unix:size");
        assertThat(blocks).isEqualTo(1L << 30);
        assertThat(storage.usableSpace(dir)).isPositive();
    }

    @Test
    void writeAtomicallyReplacesAndLeavesNoTempFiles() throws IOException {
        Path meta = dir.resolve("meta");
        storage.writeAtomically(meta, ByteBuffer.wrap("one".getBytes()));
        storage.writeAtomically(meta, ByteBuffer.wrap("two".getBytes()));
        assertThat(new String(storage.readAll(meta))).isEqualTo("two");
        assertThat(storage.list(dir)).containsExactly(meta);
    }

    @Test
    void renameAndDelete() throws IOException {
        storage.writeAtomically(dir.resolve("a"), ByteBuffer.wrap(new byte[] {1}));
        storage.rename(dir.resolve("a"), dir.resolve("b"));
        assertThat(storage.exists(dir.resolve("a"))).isFalse();
        storage.deleteIfExists(dir.resolve("b"));
        storage.deleteIfExists(dir.resolve("b"));
        assertThat(storage.list(dir)).isEmpty();
    }
}
