package io.doppel.volume.internal;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;

import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeGuard;
import io.doppel.api.volume.VolumeService;
import io.doppel.testkit.SimulatedStorage;

/** A volume manager over simulated storage, and helpers to compare images. */
final class Fixture implements AutoCloseable {

    static final int BS = VolumeService.BLOCK_SIZE;
    static final Path POOL = Path.of("/pool");

    final SimulatedStorage sim = new SimulatedStorage();
    final FaultStorage storage = new FaultStorage(sim);
    final List<VolumeGuard> guards = new CopyOnWriteArrayList<>();
    VolumeManager manager;

    Fixture() throws IOException {
        manager = start();
    }

    VolumeManager start() throws IOException {
        return new VolumeManager(storage, POOL, List.of(POOL), () -> guards, Clock.systemUTC());
    }

    /** Closes the manager (its handles die) and starts a new one on the same storage. */
    VolumeManager restart() throws IOException {
        manager.close();
        manager = start();
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }

    static byte[] read(Volume v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) v.size());
        v.read(b, 0);
        return b.array();
    }

    static byte[] readSnapshot(Volume v, String name) throws IOException {
        long size = v.snapshots().stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow().size();
        ByteBuffer b = ByteBuffer.allocate((int) size);
        v.readSnapshot(name, b, 0);
        return b.array();
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /** Fails naming the first differing byte and its block, instead of printing two large arrays. */
    static void assertImage(byte[] actual, byte[] expected, String what) {
        if (actual.length != expected.length) {
            fail(what + ": " + actual.length + " bytes, expected " + expected.length);
        }
        int at = Arrays.mismatch(actual, expected);
        if (at >= 0) {
            fail(what + ": differs first at byte " + at + " (block " + at / BS + "): " + actual[at] + " instead of "
                    + expected[at]);
        }
    }
}
