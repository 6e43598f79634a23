package io.netty.buffer;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.netty.util.ResourceLeakDetector;

/**
 * Collects Netty's buffer leak reports so that a test can fail on them. It lives in Netty's
 * package because the buffer leak detector is package-private.
 */
public final class LeakProbe {

    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    static {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        AbstractByteBuf.leakDetector.setLeakListener((type, records) -> LEAKS.add(type + ": " + records));
    }

    private LeakProbe() {
    }

    /** Tracks every buffer from now on. */
    public static void install() {
        // the static initializer does the work
    }

    /** Lets the collector find unreleased buffers, then returns every leak reported so far. */
    public static List<String> leaks() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            // the detector reports what the collector found when the next buffer is tracked
            PooledByteBufAllocator.DEFAULT.directBuffer(1).release();
            PooledByteBufAllocator.DEFAULT.heapBuffer(1).release();
        }
        return List.copyOf(LEAKS);
    }
}
