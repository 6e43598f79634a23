package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeGuard;

import org.junit.jupiter.api.Test;

class GuardAndHandleTest {

    private static VolumeGuard vetoing(String volume, String reason) {
        return v -> v.equals(volume) ? Optional.of(reason) : Optional.empty();
    }

    @Test
    void aGuardsVetoBlocksDeleteWithEveryReason() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", BS, "g");
            fx.manager.create("w", BS, "g");
            fx.guards.add(vetoing("v", "exported as nbd://127.0.0.1:10809/v"));
            fx.guards.add(vetoing("v", "paired with site b"));
            fx.guards.add(vetoing("other", "not about v"));
            assertThatThrownBy(() -> fx.manager.delete("v")).isInstanceOf(IllegalStateException.class)
                    .hasMessage("volume v cannot be deleted: exported as nbd://127.0.0.1:10809/v; paired with site b");
            assertThat(fx.manager.find("v")).isPresent();
            assertThat(fx.sim.exists(Fixture.POOL.resolve("v/data"))).isTrue();
            // Control: a volume no guard objects to goes.
            fx.manager.delete("w");
            assertThat(fx.manager.find("w")).isEmpty();
            fx.guards.clear();
            fx.manager.delete("v");
            assertThat(fx.manager.find("v")).isEmpty();
        }
    }

    @Test
    void aFailingGuardCountsAsAVeto() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", BS, "g");
            fx.guards.add(v -> {
                throw new IllegalStateException("boom");
            });
            assertThatThrownBy(() -> fx.manager.delete("v")).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("boom");
            assertThat(fx.manager.find("v")).isPresent();
        }
    }

    @Test
    void deleteIsRefusedWhileHandlesAreOpenAndRemovesEverythingAfter() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 4 * BS, "g");
            Volume a = fx.manager.open("v");
            Volume b = fx.manager.open("v");
            a.createSnapshot("s");
            a.write(ByteBuffer.wrap(new byte[BS]), 0);
            assertThatThrownBy(() -> fx.manager.delete("v")).isInstanceOf(IllegalStateException.class)
                    .hasMessage("volume v is open by 2 handle(s)");
            a.close();
            a.close(); // a second close of the same handle releases nothing more
            assertThatThrownBy(() -> fx.manager.delete("v")).hasMessage("volume v is open by 1 handle(s)");
            b.close();
            long before = fx.sim.usedBytes();
            fx.manager.delete("v");
            assertThat(fx.sim.exists(Fixture.POOL.resolve("v"))).isFalse();
            assertThat(fx.sim.usedBytes()).isLessThan(before);
            fx.restart();
            assertThat(fx.manager.find("v")).isEmpty();
            // The name is free again, with fresh, empty files.
            fx.manager.create("v", 4 * BS, "g");
            try (Volume v = fx.manager.open("v")) {
                assertThat(v.snapshots()).isEmpty();
                assertThat(Fixture.read(v)).containsOnly(0);
            }
        }
    }

    @Test
    void snapshotDeleteVetoIsHonoured() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", BS, "g");
            fx.guards.add(new VolumeGuard() {
                @Override
                public Optional<String> vetoDelete(String volume) {
                    return Optional.empty();
                }

                @Override
                public Optional<String> vetoDeleteSnapshot(String volume, String snapshot) {
                    return snapshot.equals("kept") ? Optional.of("exported as v@kept") : Optional.empty();
                }
            });
            try (Volume v = fx.manager.open("v")) {
                v.createSnapshot("kept");
                v.createSnapshot("other");
                assertThatThrownBy(() -> v.deleteSnapshot("kept")).isInstanceOf(IllegalStateException.class)
                        .hasMessage("snapshot v@kept cannot be deleted: exported as v@kept");
                v.deleteSnapshot("other");
                assertThat(v.snapshots()).extracting(s -> s.name()).containsExactly("kept");
            }
        }
    }

    @Test
    void handlesShareOneVolumeAndDieWithTheService() throws IOException {
        try (Fixture fx = new Fixture()) {
            fx.manager.create("v", 2 * BS, "g");
            Volume a = fx.manager.open("v");
            Volume b = fx.manager.open("v");
            a.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 10);
            ByteBuffer got = ByteBuffer.allocate(3);
            b.read(got, 10);
            assertThat(got.array()).containsExactly(1, 2, 3);
            a.close();
            assertThatThrownBy(() -> a.read(ByteBuffer.allocate(1), 0)).isInstanceOf(IOException.class)
                    .hasMessage("this handle on volume v is closed");
            b.read(ByteBuffer.allocate(1), 0);

            fx.manager.close();
            assertThatThrownBy(() -> b.read(ByteBuffer.allocate(1), 0)).isInstanceOf(IOException.class)
                    .hasMessage("volume service stopped");
            assertThatThrownBy(() -> b.write(ByteBuffer.allocate(1), 0)).hasMessage("volume service stopped");
            assertThatThrownBy(() -> b.force()).hasMessage("volume service stopped");
            assertThatThrownBy(() -> fx.manager.open("v")).hasMessage("volume service stopped");
            b.close();
        }
    }
}
