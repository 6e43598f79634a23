package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;

import io.doppel.api.volume.Volume;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ValidationTest {

    @ParameterizedTest
    @ValueSource(strings = {"a", "vol0", "A.b_c-d", "0", "x123456789012345678901234567890123456789012345678901234567890123"})
    void goodNamesAreAccepted(String name) throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThat(fx.manager.create(name, BS, "g").name()).isEqualTo(name);
            try (Volume v = fx.manager.open(name)) {
                assertThat(v.createSnapshot(name).name()).isEqualTo(name);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-a", ".a", "_a", "a@b", "a b", "a/b", "ä",
        "x1234567890123456789012345678901234567890123456789012345678901234"})
    void badNamesAreRefusedNamingTheNameAndTheRule(String name) throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThatThrownBy(() -> fx.manager.create(name, BS, "g")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("invalid volume name '" + name + "'").hasMessageContaining("1 to 64")
                    .hasMessageContaining("'@' is reserved");
            fx.manager.create("v", BS, "g");
            try (Volume v = fx.manager.open("v")) {
                assertThatThrownBy(() -> v.createSnapshot(name)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("invalid snapshot name '" + name + "'");
            }
            assertThatThrownBy(() -> fx.manager.create("w", BS, name)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("invalid group name");
        }
    }

    @Test
    void aMissingNameIsRefused() throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThatThrownBy(() -> fx.manager.create(null, BS, "g")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("invalid volume name (none)");
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -4096, 1000, 4097, 4096 * 3 + 1})
    void sizesThatAreNotPositiveBlockMultiplesAreRefused(long size) throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThatThrownBy(() -> fx.manager.create("v", size, "g")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("invalid volume size " + size + " bytes")
                    .hasMessageContaining("positive multiple of 4096");
        }
    }

    @Test
    void sizesAboveSixteenTebibytesAreRefused() throws IOException {
        try (Fixture fx = new Fixture()) {
            long size = (16L << 40) + BS;
            assertThatThrownBy(() -> fx.manager.create("v", size, "g")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(String.valueOf(size)).hasMessageContaining("largest volume is 16 TiB");
            // The limit itself is fine: the file is sparse.
            assertThat(fx.manager.create("v", 16L << 40, "g").size()).isEqualTo(16L << 40);
            assertThat(fx.sim.usedBytes()).isLessThan(1 << 20);
        }
    }

    @Test
    void duplicatesAreRefused() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", BS, "g");
            assertThatThrownBy(() -> fx.manager.create("v", 2 * BS, "g")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("volume v already exists");
            try (Volume v = fx.manager.open("v")) {
                v.createSnapshot("s");
                assertThatThrownBy(() -> v.createSnapshot("s")).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("volume v already has a snapshot named s");
            }
        }
    }

    @Test
    void unknownNamesAndBadRangesAreNamed() throws IOException {
        try (Fixture fx = new Fixture()) {
            assertThatThrownBy(() -> fx.manager.open("nope")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("no volume named 'nope'");
            assertThatThrownBy(() -> fx.manager.delete("nope")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("no volume named 'nope'");
            fx.manager.create("v", 2 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                assertThatThrownBy(() -> v.write(java.nio.ByteBuffer.allocate(10), 2 * BS - 5))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("range of 10 bytes at offset 8187 is outside volume v of 8192 bytes");
                assertThatThrownBy(() -> v.readSnapshot("s", java.nio.ByteBuffer.allocate(1), 0))
                        .isInstanceOf(IllegalArgumentException.class).hasMessage("volume v has no snapshot named 's'");
                v.createSnapshot("s");
                v.resize(4 * BS);
                assertThatThrownBy(() -> v.readSnapshot("s", java.nio.ByteBuffer.allocate(BS), 2 * BS))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("outside snapshot v@s");
                assertThatThrownBy(() -> v.rollback("t")).isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> v.deleteSnapshot("t")).isInstanceOf(IllegalArgumentException.class);
            }
        }
    }
}
