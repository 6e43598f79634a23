package io.doppel.bitmap.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.storage.internal.FileStorage;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.roaringbitmap.RoaringBitmap;

class PersistenceTest {

    private static final Path DIR = Path.of("/site/maps");
    private static final long TIB = 1L << 40;

    private final SimulatedStorage storage = new SimulatedStorage();
    private final DifferenceMapStore store = new DifferenceMapStore(storage, DIR);

    /** A map as the next start of the service would see it. */
    private DifferenceMap reopen(String pairId) throws IOException {
        return new DifferenceMapStore(storage, DIR).open(pairId);
    }

    private static void fill(DifferenceMap m) {
        m.add(1, 4095, 2);
        m.addBlocks(1, 70_000, 200_000); // several full containers: run-optimised on write
        m.add(2, 16 * TIB - 3 * 4096 + 5, 4096);
        for (int i = 0; i < 5000; i++) {
            m.addBlocks(3, (long) i * 7919 % (1L << 32), 1); // scattered: array and bitmap containers
        }
        m.addBlocks(3, (1L << 31) - 1, 2); // across the signed/unsigned boundary
    }

    private static void assertSameContent(DifferenceMap actual, DifferenceMap expected) {
        assertThat(actual.volumes()).isEqualTo(expected.volumes());
        assertThat(actual.blocks()).isEqualTo(expected.blocks());
        for (int v : expected.volumes()) {
            assertThat(Runs.of(actual, v)).as("runs of volume %d", v).isEqualTo(Runs.of(expected, v));
        }
    }

    @Test
    void anAbsentMapIsEmptyAndCoversNothing() throws IOException {
        DifferenceMap m = store.open("site-b");
        assertThat(m.blocks()).isZero();
        assertThat(m.coveredThrough()).isEqualTo(Position.ZERO);
        assertThat(store.list()).as("opening writes nothing").isEmpty();
        assertThat(storage.exists(DIR)).isFalse();
    }

    @Test
    void persistAndReopenRoundTrip() throws IOException {
        DifferenceMap m = store.open("site-b");
        fill(m);
        m.persist(new Position(3, 77));
        assertThat(m.coveredThrough()).isEqualTo(new Position(3, 77));
        assertThat(storage.exists(DIR.resolve("site-b.map"))).isTrue();

        DifferenceMap again = reopen("site-b");
        assertThat(again).isNotSameAs(m);
        assertThat(again.coveredThrough()).isEqualTo(new Position(3, 77));
        assertSameContent(again, m);
        assertThat(again.blocks(1)).isEqualTo(2 + 200_000);
        assertThat(Runs.of(again, 2)).containsExactly(new Runs((1L << 32) - 3, 2));

        // Removing and persisting again replaces the file.
        again.remove(1, 0);
        again.clear();
        again.addBlocks(9, 5, 1);
        again.persist(new Position(4, 100));
        DifferenceMap third = reopen("site-b");
        assertThat(third.volumes()).containsExactly(9);
        assertThat(third.coveredThrough()).isEqualTo(new Position(4, 100));
    }

    @Test
    void theFileHasTheDocumentedLayout() throws IOException {
        DifferenceMap m = store.open("p");
        m.addBlocks(5, 10, 3);
        m.persist(new Position(2, 9));
        byte[] bytes = storage.readAll(DIR.resolve("p.map"));
        ByteBuffer b = ByteBuffer.wrap(bytes);
        assertThat(b.getInt()).isEqualTo(0x44444D50); // "DDMP"
        assertThat(b.getShort()).isEqualTo((short) 1);
        assertThat(b.getShort()).isZero();
        assertThat(b.getLong()).isEqualTo(2);
        assertThat(b.getLong()).isEqualTo(9);
        assertThat(b.getInt()).isEqualTo(1);
        assertThat(b.getInt()).isEqualTo(5);
        int n = b.getInt();
        RoaringBitmap stored = new RoaringBitmap();
        stored.deserialize(b.slice(b.position(), n).order(ByteOrder.LITTLE_ENDIAN)); // the portable format
        assertThat(stored).isEqualTo(RoaringBitmap.bitmapOf(10, 11, 12));
        assertThat(stored.serializedSizeInBytes()).isEqualTo(n);
        assertThat(stored.hasRunCompression()).as("run-optimised before writing").isTrue();
        b.position(b.position() + n);
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, b.position());
        assertThat(b.getInt()).isEqualTo((int) crc.getValue());
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void openingTwiceGivesTheSameLiveMapUntilDeleted() throws IOException {
        DifferenceMap a = store.open("p1");
        a.addBlocks(1, 0, 10);
        assertThat(store.open("p1")).isSameAs(a);
        a.persist(new Position(1, 1));
        assertThat(store.list()).containsExactly("p1");

        store.delete("p1");
        assertThat(storage.exists(DIR.resolve("p1.map"))).isFalse();
        assertThat(store.list()).isEmpty();
        assertThatThrownBy(() -> a.persist(new Position(1, 2))).isInstanceOf(IOException.class).hasMessageContaining("p1")
                .hasMessageContaining("deleted");
        assertThat(storage.exists(DIR.resolve("p1.map"))).as("a deleted map is not resurrected").isFalse();

        DifferenceMap b = store.open("p1");
        assertThat(b).isNotSameAs(a);
        assertThat(b.blocks()).isZero();
        assertThat(b.coveredThrough()).isEqualTo(Position.ZERO);
        store.delete("never-opened"); // nothing to delete: fine
    }

    @Test
    void listShowsPairsWithAMapOnDiskOnly() throws IOException {
        store.open("b").persist(new Position(1, 1));
        store.open("a").persist(new Position(1, 1));
        store.open("c"); // never persisted
        storage.writeAtomically(DIR.resolve(".a.map.1234.tmp"), ByteBuffer.allocate(3));
        storage.writeAtomically(DIR.resolve("notes.txt"), ByteBuffer.allocate(3));
        assertThat(store.list()).containsExactly("a", "b");
    }

    @Test
    void pairIdsAreChecked() throws IOException {
        for (String bad : new String[] {"", ".hidden", "-x", "a/b", "../up", "a b", "ä", "x".repeat(129)}) {
            assertThatThrownBy(() -> store.open(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + bad + "'");
            assertThatThrownBy(() -> store.delete(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> store.open(null)).isInstanceOf(IllegalArgumentException.class);
        for (String good : new String[] {"0b6c2a4e-3f1d-4c7a-9e55-1d2f3a4b5c6d", "site_b.async-1", "x".repeat(128)}) {
            store.open(good).persist(new Position(1, 1));
        }
        assertThat(store.list()).hasSize(3);
    }

    @Test
    void aClosedStoreStopsItsMapsFromWriting() throws IOException {
        DifferenceMap m = store.open("p");
        m.persist(new Position(1, 1));
        store.close();
        assertThatThrownBy(() -> m.persist(new Position(1, 2))).isInstanceOf(IOException.class).hasMessageContaining("stopped");
        assertThatThrownBy(() -> store.open("p")).isInstanceOf(IOException.class).hasMessageContaining("closed");
        assertThat(reopen("p").coveredThrough()).isEqualTo(new Position(1, 1));
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void aPowerCutRightAfterPersistKeepsIt(long seed) throws IOException {
        DifferenceMap m = store.open("p");
        fill(m);
        m.persist(new Position(5, 500));
        storage.simulatePowerCut(seed);
        DifferenceMap after = reopen("p");
        assertThat(after.coveredThrough()).isEqualTo(new Position(5, 500));
        assertSameContent(after, m);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void aPowerCutBeforeTheNextPersistKeepsThePreviousVersion(long seed) throws IOException {
        DifferenceMap m = store.open("p");
        m.addBlocks(1, 0, 100);
        m.persist(new Position(1, 10));

        // Later changes live only in memory; one persist attempt fails half way.
        m.addBlocks(1, 1000, 100);
        m.addBlocks(2, 0, 5);
        m.remove(1, 0);
        storage.writeFault(p -> p.startsWith(DIR));
        assertThatThrownBy(() -> m.persist(new Position(1, 20))).isInstanceOf(IOException.class);
        assertThat(m.coveredThrough()).as("a failed persist covers nothing new").isEqualTo(new Position(1, 10));
        storage.writeFault(null);
        storage.simulatePowerCut(seed);

        DifferenceMap after = reopen("p");
        assertThat(after.coveredThrough()).isEqualTo(new Position(1, 10));
        assertThat(Runs.of(after, 1)).containsExactly(new Runs(0, 100));
        assertThat(after.volumes()).containsExactly(1);
        // Negative control: the in-memory map did differ, so the check above could fail.
        assertThat(Runs.of(m, 1)).isNotEqualTo(Runs.of(after, 1));
    }

    /** Every single-bit flip anywhere in the file is refused, naming the file. */
    @Test
    void aCorruptedFileIsRefusedNamingIt() throws IOException {
        DifferenceMap m = store.open("p");
        m.addBlocks(1, 3, 5);
        m.addBlocks(2, 1L << 31, 70_000);
        m.persist(new Position(1, 2));
        Path file = DIR.resolve("p.map");
        int size = storage.readAll(file).length;
        for (int off = 0; off < size; off++) {
            int bit = off % 8;
            storage.flipBit(file, off, bit);
            int at = off;
            assertThatThrownBy(() -> reopen("p")).as("bit %d of byte %d", bit, at).isInstanceOf(IOException.class)
                    .hasMessageContaining(file.toString());
            storage.flipBit(file, off, bit);
        }
        assertSameContent(reopen("p"), m); // negative control: restored, it reads again
    }

    @Test
    void aTruncatedFileIsRefusedNamingIt() throws IOException {
        DifferenceMap m = store.open("p");
        fill(m);
        m.persist(new Position(1, 2));
        Path file = DIR.resolve("p.map");
        byte[] whole = storage.readAll(file);
        for (int length : new int[] {0, 1, 7, 8, 27, 28, 31, 40, whole.length / 2, whole.length - 5, whole.length - 4,
                whole.length - 1}) {
            storage.writeAtomically(file, ByteBuffer.wrap(whole));
            storage.truncate(file, length);
            assertThatThrownBy(() -> reopen("p")).as("cut to %d of %d bytes", length, whole.length).isInstanceOf(IOException.class)
                    .hasMessageContaining(file.toString());
        }
        storage.writeAtomically(file, ByteBuffer.wrap(whole));
        assertSameContent(reopen("p"), m);
    }

    @Test
    void anUnknownVersionIsRefusedNamingBothVersions() throws IOException {
        store.open("p").persist(new Position(1, 2));
        Path file = DIR.resolve("p.map");
        storage.overwrite(file, 4, new byte[] {0, 2});
        assertThatThrownBy(() -> reopen("p")).isInstanceOf(IOException.class).hasMessageContaining(file.toString())
                .hasMessageContaining("version 2").hasMessageContaining("reads version 1");
    }

    @Test
    void aForeignFileIsRefused() throws IOException {
        Path file = DIR.resolve("p.map");
        storage.createDirectories(DIR);
        storage.writeAtomically(file, ByteBuffer.wrap("hello, this is not a map at all".getBytes()));
        assertThatThrownBy(() -> reopen("p")).isInstanceOf(IOException.class).hasMessageContaining(file.toString())
                .hasMessageContaining("not a difference map");
    }

    @Test
    void onARealFileSystemNoTemporaryFileIsLeft(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("maps");
        DifferenceMapStore real = new DifferenceMapStore(new FileStorage(), dir);
        DifferenceMap m = real.open("p");
        fill(m);
        m.persist(new Position(7, 8));
        m.addBlocks(4, 0, 1);
        m.persist(new Position(7, 9));
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("p.map");
        }
        DifferenceMap again = new DifferenceMapStore(new FileStorage(), dir).open("p");
        assertThat(again.coveredThrough()).isEqualTo(new Position(7, 9));
        assertSameContent(again, m);
        assertThat(real.list()).isEqualTo(List.of("p"));
    }
}
