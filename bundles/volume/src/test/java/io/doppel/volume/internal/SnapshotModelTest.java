package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static io.doppel.volume.internal.Fixture.assertImage;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;

import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random writes, zeroes, snapshot creation, deletion, rollback, growth and restarts against a
 * plain in-memory model: the volume and every snapshot must read exactly as the model says.
 */
class SnapshotModelTest {

    private static final int MAX_BLOCKS = 64;

    static LongStream seeds() {
        return LongStream.rangeClosed(1, 100);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void volumeAndSnapshotsMatchTheModel(long seed) throws IOException {
        Random rnd = new Random(seed);
        try (Fixture fx = new Fixture()) {
            int blocks = 4 + rnd.nextInt(28);
            fx.manager.create("v", (long) blocks * BS, "g");
            Volume vol = fx.manager.open("v");
            byte[] live = new byte[blocks * BS];
            Map<String, byte[]> snaps = new LinkedHashMap<>();
            int nextName = 0;
            int rollbacks = 0;
            int handoffs = 0;
            for (int step = 0; step < 150; step++) {
                String at = "seed " + seed + " step " + step;
                int op = rnd.nextInt(100);
                if (op < 40) {
                    int[] r = range(rnd, live.length);
                    byte[] data = Fixture.random(rnd, r[1]);
                    vol.write(ByteBuffer.wrap(data), r[0]);
                    System.arraycopy(data, 0, live, r[0], r[1]);
                } else if (op < 52) {
                    int[] r = rnd.nextInt(4) == 0 ? new int[] {0, live.length} : range(rnd, live.length);
                    vol.writeZeroes(r[0], r[1]);
                    Arrays.fill(live, r[0], r[0] + r[1], (byte) 0);
                } else if (op < 63) {
                    if (snaps.size() < 6) {
                        String name = "s" + nextName++;
                        SnapshotInfo info = vol.createSnapshot(name);
                        assertThat(info.preservedBytes()).as(at).isZero();
                        assertThat(info.size()).as(at).isEqualTo(live.length);
                        snaps.put(name, live.clone());
                    }
                } else if (op < 71) {
                    if (!snaps.isEmpty()) {
                        String name = pick(rnd, snaps);
                        List<String> names = new ArrayList<>(snaps.keySet());
                        if (names.indexOf(name) > 0) {
                            handoffs++;
                        }
                        vol.deleteSnapshot(name);
                        snaps.remove(name);
                    }
                } else if (op < 78) {
                    if (!snaps.isEmpty()) {
                        String name = pick(rnd, snaps);
                        vol.rollback(name);
                        live = snaps.get(name).clone();
                        rollbacks++;
                    }
                } else if (op < 83) {
                    int more = 1 + rnd.nextInt(8);
                    if (live.length / BS + more <= MAX_BLOCKS) {
                        vol.resize(live.length + (long) more * BS);
                        live = Arrays.copyOf(live, live.length + more * BS);
                    }
                } else if (op < 88) {
                    vol.close();
                    if (rnd.nextBoolean()) {
                        fx.restart();
                    }
                    vol = fx.manager.open("v");
                } else if (op < 92) {
                    vol.force();
                } else {
                    partialReads(rnd, vol, live, snaps, at);
                }
                if (step % 5 == 4) {
                    verify(vol, live, snaps, at);
                }
            }
            verify(vol, live, snaps, "seed " + seed + " end");
            fx.restart();
            verify(fx.manager.open("v"), live, snaps, "seed " + seed + " after restart");
            assertThat(rollbacks + handoffs).as("the random walk exercised rollback or hand-off").isPositive();
        }
    }

    /** A random range, half the time whole blocks. */
    private static int[] range(Random rnd, int size) {
        if (rnd.nextBoolean()) {
            int blocks = size / BS;
            int first = rnd.nextInt(blocks);
            int count = 1 + rnd.nextInt(Math.min(4, blocks - first));
            return new int[] {first * BS, count * BS};
        }
        int off = rnd.nextInt(size);
        int len = 1 + rnd.nextInt(Math.min(size - off, 3 * BS + 100));
        return new int[] {off, len};
    }

    private static String pick(Random rnd, Map<String, byte[]> snaps) {
        List<String> names = new ArrayList<>(snaps.keySet());
        return names.get(rnd.nextInt(names.size()));
    }

    private static void partialReads(Random rnd, Volume vol, byte[] live, Map<String, byte[]> snaps, String at)
            throws IOException {
        int[] r = range(rnd, live.length);
        ByteBuffer b = ByteBuffer.allocate(r[1]);
        vol.read(b, r[0]);
        assertImage(b.array(), Arrays.copyOfRange(live, r[0], r[0] + r[1]), at + " live range");
        if (!snaps.isEmpty()) {
            String name = pick(rnd, snaps);
            byte[] image = snaps.get(name);
            int[] s = range(rnd, image.length);
            ByteBuffer d = ByteBuffer.allocateDirect(s[1]);
            vol.readSnapshot(name, d, s[0]);
            assertThat(d.remaining()).isZero();
            byte[] got = new byte[s[1]];
            d.flip().get(got);
            assertImage(got, Arrays.copyOfRange(image, s[0], s[0] + s[1]), at + " range of snapshot " + name);
        }
    }

    static void verify(Volume vol, byte[] live, Map<String, byte[]> snaps, String at) throws IOException {
        assertThat(vol.size()).as(at).isEqualTo(live.length);
        assertThat(vol.info().size()).as(at).isEqualTo(live.length);
        assertImage(Fixture.read(vol), live, at + " live volume");
        List<SnapshotInfo> infos = vol.snapshots();
        assertThat(infos).extracting(SnapshotInfo::name).as(at).containsExactlyElementsOf(snaps.keySet());
        for (SnapshotInfo s : infos) {
            byte[] image = snaps.get(s.name());
            assertThat(s.size()).as(at).isEqualTo(image.length);
            assertThat(s.preservedBytes()).as(at).isBetween(0L, s.size());
            assertImage(Fixture.readSnapshot(vol, s.name()), image, at + " snapshot " + s.name());
        }
    }
}
