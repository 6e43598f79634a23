package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static io.doppel.volume.internal.Fixture.assertImage;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Random;

import io.doppel.api.volume.Volume;
import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The same operations on real files through the production storage. */
class RealFilesTest {

    @TempDir
    Path dir;

    @Test
    void volumesAndSnapshotsOnRealFilesSurviveARestart() throws IOException {
        FileStorage storage = new FileStorage();
        Path pool = dir.resolve("pool");
        byte[] before = Fixture.random(new Random(5), 16 * BS);
        byte[] after = before.clone();
        try (VolumeManager m = new VolumeManager(storage, pool, List.of(pool), List::of, Clock.systemUTC())) {
            m.create("v", 1L << 30, "g");
            try (Volume v = m.open("v")) {
                v.write(ByteBuffer.wrap(before), 0);
                v.createSnapshot("s");
                byte[] change = Fixture.random(new Random(6), 3 * BS);
                v.write(ByteBuffer.wrap(change), 5 * BS);
                System.arraycopy(change, 0, after, 5 * BS, change.length);
                v.writeZeroes(0, 1L << 30);
                v.force();
            }
        }
        assertThat(Files.size(pool.resolve("v/data"))).isEqualTo(1L << 30);
        assertThat(Files.exists(pool.resolve(VolumeManager.REGISTRY_FILE))).isTrue();
        try (VolumeManager m = new VolumeManager(storage, pool, List.of(pool), List::of, Clock.systemUTC());
                Volume v = m.open("v")) {
            ByteBuffer s = ByteBuffer.allocate(16 * BS);
            v.readSnapshot("s", s, 0);
            assertImage(s.array(), before, "snapshot on disk");
            ByteBuffer live = ByteBuffer.allocate(16 * BS);
            v.read(live, 0);
            assertThat(live.array()).containsOnly(0);
            assertThat(v.snapshots().get(0).preservedBytes()).isEqualTo(16L * BS);
        }
    }
}
