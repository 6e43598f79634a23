package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static io.doppel.volume.internal.Fixture.POOL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeInfo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RegistryTest {

    private static final Path FILE = POOL.resolve(VolumeManager.REGISTRY_FILE);

    private static Registry sample() {
        Instant t = Instant.parse("2026-01-02T03:04:05.123456789Z");
        Registry.Entry a = new Registry.Entry(new VolumeInfo(1, "alpha", "g1", 8L * BS, "/d1", t), 3,
                List.of(new Registry.Snapshot("s1", 4L * BS, t, 0), new Registry.Snapshot("s.2", 8L * BS, t, 2)));
        Registry.Entry b = new Registry.Entry(new VolumeInfo(4, "beta", "g2", 1L << 40, "/d2", t), 1, List.of());
        return new Registry(7, List.of(a, b));
    }

    @Test
    void encodesAndDecodesEveryField() throws IOException {
        Registry r = sample();
        ByteBuffer b = RegistryCodec.encode(r);
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        assertThat(RegistryCodec.decode(bytes, FILE)).isEqualTo(r);
    }

    @Test
    void survivesARestartWithSnapshotsAndSizes() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", 4 * BS, "g1");
            fx.manager.create("b", 8 * BS, "g2");
            try (Volume v = fx.manager.open("a")) {
                v.createSnapshot("s1");
                v.resize(6 * BS);
                v.createSnapshot("s2");
            }
            List<VolumeInfo> before = fx.manager.list();
            fx.restart();
            assertThat(fx.manager.list()).isEqualTo(before);
            assertThat(fx.manager.find("a")).get().extracting(VolumeInfo::size).isEqualTo(6L * BS);
            try (Volume v = fx.manager.open("a")) {
                assertThat(v.snapshots()).extracting(s -> s.name() + ":" + s.size())
                        .containsExactly("s1:" + 4 * BS, "s2:" + 6 * BS);
            }
        }
    }

    @Test
    void idsAreNeverReused() throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThat(fx.manager.create("a", BS, "g").id()).isEqualTo(1);
            assertThat(fx.manager.create("b", BS, "g").id()).isEqualTo(2);
            fx.manager.delete("b");
            assertThat(fx.manager.create("c", BS, "g").id()).isEqualTo(3);
            fx.manager.delete("c");
            fx.restart();
            assertThat(fx.manager.create("b", BS, "g").id()).isEqualTo(4);
        }
    }

    /** Control: the same file undamaged loads, so the failures below are the damage's doing. */
    @Test
    void anUndamagedRegistryLoads() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", BS, "g");
            fx.restart();
            assertThat(fx.manager.find("a")).isPresent();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {12, 20, 30, 40, -4})
    void aFlippedBitIsRefusedNamingTheFile(int offset) throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", BS, "g");
            fx.manager.close();
            long at = offset >= 0 ? offset : fx.sim.readAll(FILE).length + offset;
            fx.sim.flipBit(FILE, at, 3);
            assertThatThrownBy(fx::start).isInstanceOf(IOException.class)
                    .hasMessageContaining(FILE.toString()).hasMessageContaining("damaged")
                    .hasMessageContaining("CRC32C mismatch");
        }
    }

    @Test
    void anUnknownVersionIsRefusedNamingBothVersions() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", BS, "g");
            fx.manager.close();
            fx.sim.overwrite(FILE, 4, new byte[] {0, 0, 0, 9});
            assertThatThrownBy(fx::start).isInstanceOf(IOException.class)
                    .hasMessageContaining(FILE.toString()).hasMessageContaining("version 9")
                    .hasMessageContaining("version 1");
        }
    }

    @Test
    void aForeignOrTruncatedFileIsRefused() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", BS, "g");
            fx.manager.close();
            byte[] good = fx.sim.readAll(FILE);
            fx.sim.overwrite(FILE, 0, new byte[] {'n', 'o', 'p', 'e'});
            assertThatThrownBy(fx::start).hasMessageContaining(FILE.toString()).hasMessageContaining("bad magic");
            fx.sim.overwrite(FILE, 0, good);
            fx.sim.truncate(FILE, good.length - 10);
            assertThatThrownBy(fx::start).hasMessageContaining(FILE.toString())
                    .hasMessageContaining("does not match the file length");
        }
    }

    @Test
    void aFailedRegistryWriteChangesNothing() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("a", BS, "g");
            fx.sim.writeFault(p -> p.equals(FILE));
            assertThatThrownBy(() -> fx.manager.create("b", BS, "g")).isInstanceOf(IOException.class);
            assertThat(fx.manager.list()).extracting(VolumeInfo::name).containsExactly("a");
            fx.sim.writeFault(null);
            assertThat(fx.manager.create("b", BS, "g").id()).isEqualTo(2);
        }
    }
}
