package io.doppel.engine.internal;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Admits I/O while the services the write path needs are present, and holds it while one is
 * being replaced. {@link #close()} waits until no admitted request is still running, so the
 * old service can be torn down safely; {@link #open()} releases the held requests.
 *
 * <p>The fast path is a striped counter and a volatile read: two threads entering at once do
 * not contend on one lock word.
 */
final class IoGate {

    private final LongAdder active = new LongAdder();
    private volatile boolean open;
    private volatile String reason = "starting";
    private final Object monitor = new Object();

    /**
     * Enters the gate, waiting up to {@code timeoutNanos} for it to open.
     *
     * @return false if it stayed closed that long
     */
    boolean enter(long timeoutNanos) throws InterruptedException {
        active.increment();
        if (open) {
            return true;
        }
        active.decrement();
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (monitor) {
            while (true) {
                active.increment();
                if (open) {
                    return true;
                }
                // No notify here: held requests waking each other would starve a closer of
                // the monitor (it rechecks the count every few milliseconds on its own).
                active.decrement();
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(monitor, left);
            }
        }
    }

    void exit() {
        active.decrement();
    }

    /** Stops admitting requests and waits until every admitted one has exited. */
    void close(String why) throws InterruptedException {
        reason = why;
        open = false;
        synchronized (monitor) {
            while (active.sum() > 0) {
                monitor.wait(1);
            }
        }
    }

    void open() {
        synchronized (monitor) {
            open = true;
            reason = null;
            monitor.notifyAll();
        }
    }

    boolean isOpen() {
        return open;
    }

    /** Why requests are held, or null when open. */
    String reason() {
        return reason;
    }

    long active() {
        return active.sum();
    }
}
