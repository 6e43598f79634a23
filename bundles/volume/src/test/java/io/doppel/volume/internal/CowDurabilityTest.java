package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static io.doppel.volume.internal.Fixture.POOL;
import static io.doppel.volume.internal.Fixture.assertImage;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;

import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power cuts at random points of the copy-on-write path (between any two writes or forces of
 * any file): afterwards every snapshot reads exactly its image. The volume may lose writes that
 * were not forced, but a snapshot never shows data written after it was taken.
 */
class CowDurabilityTest {

    static LongStream seeds() {
        return LongStream.rangeClosed(1, 200);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void snapshotsSurviveAPowerCutAnywhere(long seed) throws IOException {
        Random rnd = new Random(seed);
        SimulatedStorage sim = new SimulatedStorage();
        FaultStorage faults = new FaultStorage(sim);
        VolumeManager m = manager(faults);
        int blocks = 8 + rnd.nextInt(24);
        m.create("v", (long) blocks * BS, "g");
        Volume vol = m.open("v");
        byte[] live = Fixture.random(rnd, blocks * BS);
        for (int b = 0; b < blocks; b += 3) {
            Arrays.fill(live, b * BS, (b + 1) * BS, (byte) 0); // some zero blocks, to copy into holes
        }
        vol.write(ByteBuffer.wrap(live), 0);
        vol.force();
        vol.createSnapshot("s0");

        Map<String, byte[]> images = new LinkedHashMap<>();
        images.put("s0", live.clone());
        // Snapshots whose creation or deletion the cut interrupted: they may or may not exist.
        Map<String, byte[]> maybe = new HashMap<>();
        int next = 1;
        faults.cutPowerAt(1 + rnd.nextInt(400), seed);
        try {
            for (int step = 0; step < 120; step++) {
                int op = rnd.nextInt(100);
                if (op < 50) {
                    int off = rnd.nextInt(live.length);
                    int len = 1 + rnd.nextInt(Math.min(live.length - off, 6 * BS));
                    byte[] data = Fixture.random(rnd, len);
                    vol.write(ByteBuffer.wrap(data), off);
                    System.arraycopy(data, 0, live, off, len);
                } else if (op < 62) {
                    int off = rnd.nextInt(live.length / BS) * BS;
                    int len = (1 + rnd.nextInt((live.length - off) / BS)) * BS;
                    vol.writeZeroes(off, len);
                    Arrays.fill(live, off, off + len, (byte) 0);
                } else if (op < 70) {
                    if (images.size() < 5) {
                        String name = "s" + next++;
                        maybe.put(name, live.clone());
                        vol.createSnapshot(name);
                        images.put(name, maybe.remove(name));
                    }
                } else if (op < 76) {
                    if (images.size() > 1) {
                        String name = pick(rnd, images);
                        maybe.put(name, images.remove(name));
                        vol.deleteSnapshot(name);
                        maybe.remove(name);
                    }
                } else if (op < 81) {
                    String name = pick(rnd, images);
                    vol.rollback(name);
                    live = images.get(name).clone();
                } else if (op < 85) {
                    if (live.length < 48 * BS) {
                        vol.resize(live.length + BS);
                        live = Arrays.copyOf(live, live.length + BS);
                    }
                } else {
                    vol.force();
                }
            }
            // The cut point lay beyond the operations: cut now.
            sim.simulatePowerCut(seed);
        } catch (IOException e) {
            assertThat(faults.powerCut()).as("seed %d: only the power cut may fail an operation: %s", seed, e)
                    .isTrue();
        }

        VolumeManager after = manager(sim);
        Volume v = after.open("v");
        List<String> present = new ArrayList<>();
        for (SnapshotInfo s : v.snapshots()) {
            byte[] image = images.containsKey(s.name()) ? images.get(s.name()) : maybe.get(s.name());
            assertThat(image).as("seed %d: unexpected snapshot %s", seed, s.name()).isNotNull();
            assertImage(Fixture.readSnapshot(v, s.name()), image, "seed " + seed + " snapshot " + s.name()
                    + " after the power cut");
            present.add(s.name());
        }
        assertThat(present).as("seed %d", seed).containsAll(images.keySet());

        // Carry on from what survived: copy-on-write still keeps every snapshot intact.
        byte[] now = Fixture.read(v);
        Map<String, byte[]> model = new LinkedHashMap<>();
        for (String name : present) {
            model.put(name, Fixture.readSnapshot(v, name));
        }
        for (int step = 0; step < 30; step++) {
            int off = rnd.nextInt(now.length);
            int len = 1 + rnd.nextInt(Math.min(now.length - off, 4 * BS));
            byte[] data = Fixture.random(rnd, len);
            v.write(ByteBuffer.wrap(data), off);
            System.arraycopy(data, 0, now, off, len);
        }
        if (!present.isEmpty()) {
            String last = present.get(present.size() - 1);
            v.deleteSnapshot(last);
            model.remove(last);
        }
        SnapshotModelTest.verify(v, now, model, "seed " + seed + " after recovery");
        after.close();
    }

    /** The exact ordering: a cut between copying a block and writing the volume never exposes new data. */
    @Test
    void everyCutPointOfOneCopyOnWriteWriteIsSafe() throws IOException {
        byte[] old = Fixture.random(new Random(7), 4 * BS);
        int cuts = 0;
        for (int at = 1; at < 30; at++) {
            SimulatedStorage sim = new SimulatedStorage();
            FaultStorage faults = new FaultStorage(sim);
            VolumeManager m = manager(faults);
            m.create("v", 4 * BS, "g");
            Volume vol = m.open("v");
            vol.write(ByteBuffer.wrap(old), 0);
            vol.createSnapshot("s");
            faults.cutPowerAt(at, at);
            try {
                vol.write(ByteBuffer.wrap(Fixture.random(new Random(at), 3 * BS)), BS / 2);
                vol.force();
            } catch (IOException e) {
                cuts++;
            }
            if (!faults.powerCut()) {
                sim.simulatePowerCut(at);
            }
            try (VolumeManager after = manager(sim); Volume v = after.open("v")) {
                assertImage(Fixture.readSnapshot(v, "s"), old, "cut at operation " + at);
            }
        }
        assertThat(cuts).as("the cut hit the write path at several points").isGreaterThan(5);
    }

    private static VolumeManager manager(io.doppel.api.storage.Storage storage) throws IOException {
        return new VolumeManager(storage, POOL, List.of(POOL), List::of, Clock.systemUTC());
    }

    private static String pick(Random rnd, Map<String, byte[]> snaps) {
        List<String> names = new ArrayList<>(snaps.keySet());
        return names.get(rnd.nextInt(names.size()));
    }
}
