package io.doppel.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

import io.doppel.api.storage.StorageFile;

import org.junit.jupiter.api.Test;

class SimulatedStorageTest {

    private final Path dir = Path.of("/sim/d");

    private static ByteBuffer pages(int n, byte fill) {
        byte[] b = new byte[n * SimulatedStorage.PAGE];
        Arrays.fill(b, fill);
        return ByteBuffer.wrap(b);
    }

    private static byte[] read(StorageFile f, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        f.read(b, pos);
        return b.array();
    }

    @Test
    void forcedWritesSurviveAPowerCut() throws IOException {
        SimulatedStorage s = new SimulatedStorage();
        s.createDirectories(dir);
        try (StorageFile f = s.open(dir.resolve("a"), true)) {
            f.write(pages(4, (byte) 1), 0);
            f.force();
        }
        s.simulatePowerCut(42);
        try (StorageFile f = s.open(dir.resolve("a"), false)) {
            assertThat(f.size()).isEqualTo(4 * 4096);
            assertThat(read(f, 0, 4 * 4096)).containsOnly(1);
        }
    }

    @Test
    void unforcedPagesSurviveAsASeededSubset() throws IOException {
        int keptSomewhere = 0;
        int droppedSomewhere = 0;
        for (long seed = 0; seed < 20; seed++) {
            SimulatedStorage s = new SimulatedStorage();
            s.createDirectories(dir);
            StorageFile f = s.open(dir.resolve("a"), true);
            f.write(pages(16, (byte) 1), 0);
            f.force();
            f.write(pages(16, (byte) 2), 0);
            int dropped = s.simulatePowerCut(seed);
            assertThatThrownBy(() -> f.write(pages(1, (byte) 3), 0)).hasMessageContaining("power cut");
            StorageFile g = s.open(dir.resolve("a"), false);
            int twos = 0;
            for (int p = 0; p < 16; p++) {
                byte[] page = read(g, (long) p * 4096, 4096);
                assertThat(page[0]).isIn((byte) 1, (byte) 2);
                assertThat(page).containsOnly(page[0]); // never torn inside a page
                twos += page[0] == 2 ? 1 : 0;
            }
            assertThat(twos).isEqualTo(16 - dropped);
            keptSomewhere += twos > 0 ? 1 : 0;
            droppedSomewhere += dropped > 0 ? 1 : 0;
        }
        assertThat(keptSomewhere).isPositive();
        assertThat(droppedSomewhere).isPositive();
    }

    @Test
    void sameSeedSameOutcome() throws IOException {
        byte[][] images = new byte[2][];
        for (int i = 0; i < 2; i++) {
            SimulatedStorage s = new SimulatedStorage();
            s.createDirectories(dir);
            StorageFile f = s.open(dir.resolve("a"), true);
            for (int p = 0; p < 32; p++) {
                f.write(pages(1, (byte) p), (long) p * 4096);
            }
            s.simulatePowerCut(7);
            images[i] = s.readAll(dir.resolve("a"));
        }
        assertThat(images[0]).isEqualTo(images[1]);
    }

    @Test
    void capacityLimitFailsWritesWithNoSpace() throws IOException {
        SimulatedStorage s = new SimulatedStorage().capacity(8 * 4096);
        s.createDirectories(dir);
        StorageFile f = s.open(dir.resolve("a"), true);
        f.write(pages(8, (byte) 1), 0);
        assertThatThrownBy(() -> f.write(pages(1, (byte) 1), 8 * 4096)).hasMessageContaining("No space left");
        f.write(pages(1, (byte) 9), 0); // overwriting allocated pages still works
    }

    @Test
    void atomicWritesAndRenamesAreDurable() throws IOException {
        SimulatedStorage s = new SimulatedStorage();
        s.createDirectories(dir);
        s.writeAtomically(dir.resolve("meta"), ByteBuffer.wrap("hello".getBytes()));
        s.simulatePowerCut(1);
        assertThat(new String(s.readAll(dir.resolve("meta")))).isEqualTo("hello");
        assertThat(s.list(dir)).containsExactly(dir.resolve("meta"));
    }

    @Test
    void bitFlipIsSeenByReaders() throws IOException {
        SimulatedStorage s = new SimulatedStorage();
        s.createDirectories(dir);
        StorageFile f = s.open(dir.resolve("a"), true);
        f.write(pages(1, (byte) 0), 0);
        f.force();
        s.flipBit(dir.resolve("a"), 100, 3);
        assertThat(read(f, 100, 1)[0]).isEqualTo((byte) 8);
    }
}
