package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

import io.doppel.api.storage.StorageFile;
import io.doppel.api.volume.PoolDirectory;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class PoolTest {

    private static final Path A = Path.of("/disks/a");
    private static final Path B = Path.of("/disks/b");
    private static final Path REG = Path.of("/etc/doppel");

    private final SimulatedStorage sim = new SimulatedStorage();
    private final FaultStorage storage = new FaultStorage(sim);

    private VolumeManager manager(List<Path> pool) throws IOException {
        return new VolumeManager(storage, REG, pool, List::of, Clock.systemUTC());
    }

    @Test
    void aVolumeGoesToTheDirectoryWithTheMostUsableSpace() throws IOException {
        storage.usable(A, 10L << 30).usable(B, 20L << 30);
        try (VolumeManager m = manager(List.of(A, B))) {
            assertThat(m.create("one", 4 * BS, "g").directory()).isEqualTo(B.toString());
            assertThat(sim.exists(B.resolve("one").resolve("data"))).isTrue();
            // Control: with the space the other way round, the other directory is chosen.
            storage.usable(A, 30L << 30);
            assertThat(m.create("two", 8 * BS, "g").directory()).isEqualTo(A.toString());
            assertThat(sim.exists(A.resolve("two").resolve("data"))).isTrue();
            assertThat(m.create("three", 2 * BS, "g").directory()).isEqualTo(A.toString());

            assertThat(m.pool()).containsExactly(
                    new PoolDirectory(A.toString(), sim.totalSpace(A), 30L << 30, 2, 10L * BS),
                    new PoolDirectory(B.toString(), sim.totalSpace(B), 20L << 30, 1, 4L * BS));
        }
    }

    @Test
    void missingDirectoriesAreCreated() throws IOException {
        try (VolumeManager m = manager(List.of(A, B))) {
            assertThat(sim.exists(A)).isTrue();
            assertThat(sim.exists(B)).isTrue();
            assertThat(sim.exists(REG)).isTrue();
            assertThat(m.pool()).extracting(PoolDirectory::path).containsExactly(A.toString(), B.toString());
        }
    }

    @Test
    void aDirectoryThatCannotBeCreatedIsReportedAndAvoided() throws IOException {
        sim.createDirectories(Path.of("/disks"));
        try (StorageFile f = sim.open(A, true)) {
            f.force(); // a file where the directory should be
        }
        try (VolumeManager m = manager(List.of(A, B))) {
            PoolDirectory broken = m.pool().get(0);
            assertThat(broken.path()).isEqualTo(A.toString());
            assertThat(broken.totalBytes()).isZero();
            assertThat(broken.usableBytes()).isZero();
            assertThat(m.create("v", BS, "g").directory()).isEqualTo(B.toString());
        }
        try (VolumeManager m = manager(List.of(A))) {
            assertThatThrownBy(() -> m.create("w", BS, "g")).isInstanceOf(IOException.class)
                    .hasMessageContaining("no pool directory is usable").hasMessageContaining(A.toString())
                    .hasMessageContaining("cannot be created");
        }
    }

    @Test
    void volumesStayWhereTheyAreWhenThePoolChanges() throws IOException {
        try (VolumeManager m = manager(List.of(A))) {
            m.create("v", BS, "g");
            m.setPoolDirectories(List.of(B));
            assertThat(m.create("w", BS, "g").directory()).isEqualTo(B.toString());
            assertThat(m.find("v")).get().extracting(i -> i.directory()).isEqualTo(A.toString());
            m.open("v").close();
            assertThat(m.pool()).extracting(PoolDirectory::path).containsExactly(B.toString());
        }
    }
}
