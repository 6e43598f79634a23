package io.doppel.itests.tools;

/**
 * A token bucket in bytes, shared by every connection of one proxy direction. It starts empty when
 * the rate is set, so the first second already runs at the rate rather than in a burst.
 */
final class TokenBucket {

    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final int MIN_PIECE = 256;
    private static final int MAX_PIECE = 64 * 1024;

    private long rate;
    private double tokens;
    private double capacity;
    private long lastRefill;

    /** Sets the rate in bytes per second; 0 means unlimited. */
    synchronized void setRate(long bytesPerSecond, long nowNanos) {
        rate = bytesPerSecond;
        tokens = 0;
        lastRefill = nowNanos;
        // 50 ms worth of bytes: small enough to keep short measurements near the rate
        capacity = Math.max(bytesPerSecond / 20.0, maxPiece());
    }

    synchronized long rate() {
        return rate;
    }

    /** The largest piece a writer may take at once: 20 ms worth of bytes, within 256 B..64 KiB. */
    synchronized int maxPiece() {
        if (rate == 0) {
            return Integer.MAX_VALUE;
        }
        return (int) Math.max(MIN_PIECE, Math.min(MAX_PIECE, rate / 50));
    }

    /**
     * Takes {@code bytes} tokens if the bucket holds them (or is full) and returns 0; otherwise takes
     * nothing and returns how many nanoseconds to wait before they will be there.
     */
    synchronized long tryTake(int bytes, long nowNanos) {
        if (rate == 0) {
            return 0;
        }
        long elapsed = nowNanos - lastRefill;
        if (elapsed > 0) {
            tokens = Math.min(capacity, tokens + (double) elapsed * rate / NANOS_PER_SECOND);
            lastRefill = nowNanos;
        }
        // a piece sized for an earlier, higher rate may exceed the capacity: a full bucket lets it
        // through and the debt is paid back before the next piece
        double needed = Math.min(bytes, capacity);
        if (tokens >= needed) {
            tokens -= bytes;
            return 0;
        }
        return Math.max(1, (long) Math.ceil((needed - tokens) * NANOS_PER_SECOND / rate));
    }
}
