package io.doppel.itests.tools;

import io.doppel.itests.tools.History.Outcome;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes self-identifying blocks ({@link BlockPattern}) through {@link NbdClient}s to the volumes
 * of one consistency group and records every write in a {@link History}, so that a checker can
 * later tell whether a replica holds what the source acknowledged, in an order the source could
 * have had.
 * <p>
 * One thread issues writes chosen by a seeded generator: a volume, a run of 1..N blocks, FUA or
 * not, now and then a FLUSH, keeping at most {@code queueDepth} requests in flight over all
 * volumes. Two writes overlapping a block are never in flight together, so the writes to a block
 * reach it in issue order. The workload ends at {@link #stop()}, after a number of writes or a
 * duration, when a connection is lost, or when a write stays unanswered for {@code writeTimeout};
 * writes without a reply by then are UNKNOWN. Every wait has a deadline.
 */
public final class OracleWorkload {

    private static final Logger LOG = LoggerFactory.getLogger(OracleWorkload.class);
    private static final int BLOCK_SIZE = BlockPattern.BLOCK_SIZE;
    private static final int PICK_ATTEMPTS = 16;
    private static final long IDLE_WAIT_MILLIS = 20;

    private final long seed;
    private final long runId = new SecureRandom().nextLong();
    private final List<Target> targets;
    private final List<History.Volume> volumes;
    private final int queueDepth;
    private final int maxWriteBlocks;
    private final int fuaPercent;
    private final int flushPercent;
    private final long maxWrites;
    private final Duration duration;
    private final Duration writeTimeout;
    private final AtomicLong ticks = new AtomicLong();
    private final AtomicLong acknowledged = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong unknown = new AtomicLong();
    /** Where a volume's writes go after a refusal (a failback moved the primary role); null: nowhere else. */
    private final java.util.function.Function<String, NbdClient> failover;
    private final Map<NbdClient, AtomicLong> acknowledgedVia = new java.util.concurrent.ConcurrentHashMap<>();
    private final AtomicLong switches = new AtomicLong();
    private final ExecutorService issuer = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = Executors.defaultThreadFactory().newThread(runnable);
        thread.setName("oracle-workload");
        thread.setDaemon(true);
        return thread;
    });

    private final Object lock = new Object();
    // guarded by lock
    private final Map<Long, Pending> pending = new LinkedHashMap<>();
    private final List<History.Write> finished = new ArrayList<>();
    private final List<History.Flush> flushes = new ArrayList<>();
    private int inFlight;
    private long nextWriteId = 1;
    private String stopReason;
    private boolean frozen;
    private History history;
    private Future<?> issuing;
    private long startedNanos;

    private OracleWorkload(Builder builder) {
        this.seed = builder.seed;
        this.queueDepth = builder.queueDepth;
        this.maxWriteBlocks = builder.maxWriteBlocks;
        this.fuaPercent = builder.fuaPercent;
        this.flushPercent = builder.flushPercent;
        this.maxWrites = builder.maxWrites;
        this.duration = builder.duration;
        this.writeTimeout = builder.writeTimeout;
        this.failover = builder.failover;
        List<Target> targetList = new ArrayList<>();
        List<History.Volume> volumeList = new ArrayList<>();
        for (Map.Entry<String, NbdClient> entry : builder.volumes.entrySet()) {
            NbdClient client = entry.getValue();
            long exportBlocks = client.size() / BLOCK_SIZE;
            long blocks = builder.blocks > 0 ? builder.blocks : exportBlocks;
            if (blocks > exportBlocks || blocks == 0 || blocks > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("volume " + entry.getKey() + " has " + exportBlocks
                        + " blocks of 4096 bytes, the workload wants " + blocks);
            }
            History.Volume volume = new History.Volume(volumeList.size(), entry.getKey(), blocks);
            volumeList.add(volume);
            targetList.add(new Target(volume, client, new BitSet()));
        }
        this.targets = List.copyOf(targetList);
        this.volumes = List.copyOf(volumeList);
    }

    /** A workload whose choices come from {@code seed}. */
    public static Builder builder(long seed) {
        return new Builder(seed);
    }

    /** Starts issuing writes on the workload's own thread. */
    public OracleWorkload start() {
        synchronized (lock) {
            if (issuing != null) {
                throw new IllegalStateException("the workload was already started");
            }
            startedNanos = System.nanoTime();
            issuing = issuer.submit(this::issueLoop);
        }
        LOG.info("Oracle workload (seed {}, run {}) writes to {} with queue depth {}", seed, Long.toHexString(runId),
                volumes.stream().map(History.Volume::name).toList(), queueDepth);
        return this;
    }

    /** Starts, waits up to {@code timeout} for the workload to end by itself, and returns its history. */
    public History run(Duration timeout) {
        return start().awaitEnd(timeout);
    }

    /**
     * Waits up to {@code timeout} for the workload to end by itself (write count, duration, lost
     * connection), then stops it and returns its history. A workload still running at the
     * deadline is stopped all the same; {@link #stopReason()} says so.
     */
    public History awaitEnd(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (stopReason == null && waitUntil(deadline)) {
                // woken by a completion or the end
            }
            if (stopReason == null) {
                stopReason = "still running after " + timeout;
                LOG.warn("Oracle workload {}", stopReason);
            }
        }
        return stop(writeTimeout);
    }

    /** Stops issuing, waits up to the write timeout for the writes in flight and returns the history. */
    public History stop() {
        return stop(writeTimeout);
    }

    /**
     * Stops issuing, waits up to {@code drain} for the writes in flight, records those still
     * unanswered as UNKNOWN and returns the history. Later replies are ignored. Idempotent.
     */
    public History stop(Duration drain) {
        long deadline = System.nanoTime() + drain.toNanos();
        Future<?> loop;
        synchronized (lock) {
            if (history != null) {
                return history;
            }
            if (stopReason == null) {
                stopReason = "stopped";
            }
            lock.notifyAll();
            loop = issuing;
        }
        if (loop != null) {
            try {
                loop.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (ExecutionException | TimeoutException e) {
                LOG.warn("Oracle workload: the issuing thread did not end cleanly", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        issuer.shutdownNow();
        synchronized (lock) {
            while (inFlight > 0 && waitUntil(deadline)) {
                // woken by completions
            }
            frozen = true;
            for (Pending write : pending.values()) {
                recordUnknown(write);
            }
            pending.clear();
            history = new History(runId, seed, volumes, finished, flushes);
            LOG.info("Oracle workload ended ({}): {}", stopReason, history);
            return history;
        }
    }

    /** A fresh tick: marks a moment between the writes of this workload. */
    public long tick() {
        return ticks.incrementAndGet();
    }

    /** Why the workload ended, or null while it runs. */
    public String stopReason() {
        synchronized (lock) {
            return stopReason;
        }
    }

    public boolean isRunning() {
        synchronized (lock) {
            return stopReason == null && issuing != null;
        }
    }

    public long runId() {
        return runId;
    }

    public List<History.Volume> volumes() {
        return volumes;
    }

    /** Writes issued so far. */
    public long issued() {
        synchronized (lock) {
            return nextWriteId - 1;
        }
    }

    public long acknowledged() {
        return acknowledged.get();
    }

    public long failed() {
        return failed.get();
    }

    public long unknown() {
        return unknown.get();
    }

    /** Writes acknowledged through {@code client}. */
    public long acknowledgedVia(NbdClient client) {
        AtomicLong n = acknowledgedVia.get(client);
        return n == null ? 0 : n.get();
    }

    /** Volumes whose writes moved to the client the failover gave (after a refusal). */
    public long switches() {
        return switches.get();
    }

    private void issueLoop() {
        SplittableRandom random = new SplittableRandom(seed);
        try {
            while (true) {
                Pending write;
                synchronized (lock) {
                    if (!awaitSlot()) {
                        return;
                    }
                    Target target = targets.get(random.nextInt(targets.size()));
                    if (flushPercent > 0 && random.nextInt(100) < flushPercent && target.client.canFlush()) {
                        inFlight++;
                        write = null;
                        issueFlush(target);
                    } else {
                        write = pick(target, random);
                        if (write == null) {
                            waitUntil(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(IDLE_WAIT_MILLIS));
                            continue;
                        }
                    }
                }
                if (write != null) {
                    issue(write);
                }
            }
        } catch (RuntimeException e) {
            LOG.error("Oracle workload: the issuing thread failed", e);
            synchronized (lock) {
                end("the issuing thread failed: " + e);
            }
        }
    }

    /** Waits for room in the queue; false once the workload must end. Holds the lock. */
    private boolean awaitSlot() {
        while (true) {
            if (stopReason != null) {
                return false;
            }
            long now = System.nanoTime();
            if (maxWrites > 0 && nextWriteId > maxWrites) {
                end(maxWrites + " writes issued");
                return false;
            }
            if (duration != null && now - startedNanos >= duration.toNanos()) {
                end("ran for " + duration);
                return false;
            }
            if (!pending.isEmpty()) {
                Pending oldest = pending.values().iterator().next();
                if (now - oldest.issuedNanos > writeTimeout.toNanos()) {
                    end("write " + oldest.id + " to " + oldest.target.volume.name() + " unanswered for "
                            + writeTimeout);
                    return false;
                }
            }
            if (inFlight < queueDepth) {
                return true;
            }
            waitUntil(now + TimeUnit.MILLISECONDS.toNanos(IDLE_WAIT_MILLIS));
        }
    }

    /** Picks a run of blocks not in flight and reserves it; null if every attempt collided. Holds the lock. */
    private Pending pick(Target target, SplittableRandom random) {
        long blocks = target.volume.blocks();
        int count = (int) Math.min(blocks, 1 + random.nextInt(maxWriteBlocks));
        boolean fua = fuaPercent > 0 && random.nextInt(100) < fuaPercent && target.client.canFua();
        for (int attempt = 0; attempt < PICK_ATTEMPTS; attempt++) {
            long first = random.nextLong(blocks - count + 1);
            int busy = target.busy.nextSetBit((int) first);
            if (busy < 0 || busy >= first + count) {
                target.busy.set((int) first, (int) first + count);
                inFlight++;
                return new Pending(nextWriteId++, target, first, count, fua);
            }
        }
        return null;
    }

    private void issue(Pending write) {
        byte[] data = new byte[write.count * BLOCK_SIZE];
        for (int i = 0; i < write.count; i++) {
            BlockPattern.Header header = new BlockPattern.Header(write.target.volume.index(),
                    write.target.volume.hash(), runId, write.first + i, write.id);
            BlockPattern.write(header, data, i * BLOCK_SIZE);
        }
        synchronized (lock) {
            if (frozen) {
                // stop() gave up waiting for this thread: a write sent now would be in no history
                return;
            }
            // the issue tick is taken last, so that "answered before issued" never claims too much
            write.issueTick = ticks.incrementAndGet();
            write.issuedNanos = System.nanoTime();
            pending.put(write.id, write);
        }
        CompletableFuture<Void> reply;
        NbdClient via = write.target.client;
        try {
            reply = via.write(write.first * BLOCK_SIZE, data, write.fua);
        } catch (IllegalStateException e) {
            reply = CompletableFuture.failedFuture(new NbdConnectionLostException(e.getMessage(), e));
        }
        reply.whenComplete((ok, failure) -> completed(write, failure, via));
    }

    private void completed(Pending write, Throwable failure, NbdClient via) {
        long tick = ticks.incrementAndGet();
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause()
                : failure;
        synchronized (lock) {
            if (frozen || pending.remove(write.id) == null) {
                return;
            }
            inFlight--;
            write.target.busy.clear((int) write.first, (int) write.first + write.count);
            if (cause == null) {
                acknowledged.incrementAndGet();
                acknowledgedVia.computeIfAbsent(via, c -> new AtomicLong()).incrementAndGet();
                finished.add(write.record(tick, Outcome.ACKNOWLEDGED, 0));
            } else if (cause instanceof NbdException nbd && nbd.isErrorReply()) {
                failed.incrementAndGet();
                finished.add(write.record(tick, Outcome.FAILED, nbd.errno()));
                if (failover != null && via == write.target.client && !write.target.switching) {
                    switchTarget(write.target, nbd);
                }
            } else {
                recordUnknown(write);
                end("connection to " + write.target.volume.name() + " lost: " + cause.getMessage());
            }
            lock.notifyAll();
        }
    }

    /**
     * A refused write: the volume's later writes go where {@code failover} says, as an
     * application reconnects to the new primary. Writes issued meanwhile still go to the old
     * client (and are refused there). Holds the lock.
     */
    private void switchTarget(Target target, NbdException refusal) {
        target.switching = true;
        Thread t = new Thread(() -> {
            NbdClient next = null;
            String why = null;
            try {
                next = failover.apply(target.volume.name());
            } catch (RuntimeException e) {
                why = e.toString();
            }
            synchronized (lock) {
                target.switching = false;
                if (next != null) {
                    target.client = next;
                    switches.incrementAndGet();
                    LOG.info("Oracle workload: {} refused a write ({}); its writes go to {} from now on",
                            target.volume.name(), refusal.getMessage(), next.address());
                } else {
                    LOG.warn("Oracle workload: no other site for {}: {}", target.volume.name(), why);
                }
                lock.notifyAll();
            }
        }, "oracle-failover-" + target.volume.name());
        t.setDaemon(true);
        t.start();
    }

    /** Holds the lock. */
    private void issueFlush(Target target) {
        long issueTick = ticks.incrementAndGet();
        CompletableFuture<Void> reply;
        try {
            reply = target.client.flush();
        } catch (IllegalStateException e) {
            reply = CompletableFuture.failedFuture(new NbdConnectionLostException(e.getMessage(), e));
        }
        reply.whenComplete((ok, failure) -> {
            long tick = ticks.incrementAndGet();
            synchronized (lock) {
                if (frozen) {
                    return;
                }
                inFlight--;
                Outcome outcome = failure == null ? Outcome.ACKNOWLEDGED
                        : failure instanceof NbdException nbd && nbd.isErrorReply() ? Outcome.FAILED : Outcome.UNKNOWN;
                flushes.add(new History.Flush(target.volume.index(), issueTick,
                        outcome == Outcome.UNKNOWN ? -1 : tick, outcome));
                if (outcome == Outcome.UNKNOWN) {
                    end("connection to " + target.volume.name() + " lost during a flush");
                }
                lock.notifyAll();
            }
        });
    }

    /** Holds the lock. */
    private void recordUnknown(Pending write) {
        unknown.incrementAndGet();
        finished.add(write.record(-1, Outcome.UNKNOWN, 0));
    }

    /** Holds the lock. */
    private void end(String reason) {
        if (stopReason == null) {
            stopReason = reason;
            LOG.info("Oracle workload ends: {}", reason);
        }
        lock.notifyAll();
    }

    /** Waits on the lock until notified or {@code deadline}; false once the deadline has passed. Holds the lock. */
    private boolean waitUntil(long deadlineNanos) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            return false;
        }
        try {
            TimeUnit.NANOSECONDS.timedWait(lock, left);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            end("interrupted");
            return false;
        }
        return true;
    }

    /** A volume and the client its writes go to (replaced after a refusal when the workload fails over). */
    private static final class Target {
        final History.Volume volume;
        final BitSet busy;
        volatile NbdClient client;
        boolean switching;

        Target(History.Volume volume, NbdClient client, BitSet busy) {
            this.volume = volume;
            this.client = client;
            this.busy = busy;
        }
    }

    /** A write between its choice and its reply. */
    private static final class Pending {
        final long id;
        final Target target;
        final long first;
        final int count;
        final boolean fua;
        long issueTick;
        long issuedNanos;

        Pending(long id, Target target, long first, int count, boolean fua) {
            this.id = id;
            this.target = target;
            this.first = first;
            this.count = count;
            this.fua = fua;
        }

        History.Write record(long completeTick, Outcome outcome, int errno) {
            return new History.Write(id, target.volume.index(), first, count, fua, issueTick, completeTick, outcome,
                    errno);
        }
    }

    /** Settings of a workload; every volume is written from block 0. */
    public static final class Builder {
        private final long seed;
        private final Map<String, NbdClient> volumes = new LinkedHashMap<>();
        private long blocks;
        private int queueDepth = 16;
        private int maxWriteBlocks = 8;
        private int fuaPercent;
        private int flushPercent;
        private long maxWrites;
        private Duration duration;
        private Duration writeTimeout = Duration.ofSeconds(30);
        private java.util.function.Function<String, NbdClient> failover;

        private Builder(long seed) {
            this.seed = seed;
        }

        /** Adds a volume of the group, written through {@code client} (the workload does not close it). */
        public Builder volume(String name, NbdClient client) {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(client, "client");
            if (volumes.putIfAbsent(name, client) != null) {
                throw new IllegalArgumentException("volume " + name + " was added twice");
            }
            return this;
        }

        /** Blocks of 4096 bytes used in every volume, from block 0; by default each whole export. */
        public Builder blocks(long blocks) {
            if (blocks <= 0 || blocks > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("blocks must be 1.." + Integer.MAX_VALUE + ", was " + blocks);
            }
            this.blocks = blocks;
            return this;
        }

        /** Requests (writes and flushes) in flight at most, over all volumes; default 16. */
        public Builder queueDepth(int queueDepth) {
            if (queueDepth < 1) {
                throw new IllegalArgumentException("queue depth must be at least 1, was " + queueDepth);
            }
            this.queueDepth = queueDepth;
            return this;
        }

        /** Each write covers 1..{@code maxWriteBlocks} consecutive blocks; default 8. */
        public Builder maxWriteBlocks(int maxWriteBlocks) {
            if (maxWriteBlocks < 1 || maxWriteBlocks > 8192) {
                throw new IllegalArgumentException("max write blocks must be 1..8192, was " + maxWriteBlocks);
            }
            this.maxWriteBlocks = maxWriteBlocks;
            return this;
        }

        /** Percentage of writes sent with FUA (where the export accepts FUA); default 0. */
        public Builder fuaPercent(int percent) {
            this.fuaPercent = percent(percent, "FUA");
            return this;
        }

        /** Percentage of requests that are a FLUSH (where the export accepts FLUSH); default 0. */
        public Builder flushPercent(int percent) {
            this.flushPercent = percent(percent, "flush");
            return this;
        }

        /** Ends the workload after this many writes; 0 (default) for no limit. */
        public Builder maxWrites(long maxWrites) {
            if (maxWrites < 0) {
                throw new IllegalArgumentException("max writes must be 0 (no limit) or more, was " + maxWrites);
            }
            this.maxWrites = maxWrites;
            return this;
        }

        /** Ends the workload after this long; null (default) for no limit. */
        public Builder duration(Duration duration) {
            if (duration != null && (duration.isNegative() || duration.isZero())) {
                throw new IllegalArgumentException("duration must be positive, was " + duration);
            }
            this.duration = duration;
            return this;
        }

        /**
         * A write unanswered this long ends the workload, and {@link OracleWorkload#stop()} waits
         * this long for the writes in flight; default 30 s.
         */
        public Builder writeTimeout(Duration writeTimeout) {
            if (writeTimeout.isNegative() || writeTimeout.isZero()) {
                throw new IllegalArgumentException("write timeout must be positive, was " + writeTimeout);
            }
            this.writeTimeout = writeTimeout;
            return this;
        }

        /**
         * After a write to a volume is refused (an NBD error reply: the site gave up its primary
         * role), the volume's later writes go to the client {@code next} returns for its name,
         * as an application reconnects to the new primary. The refused write stays FAILED.
         */
        public Builder failover(java.util.function.Function<String, NbdClient> next) {
            this.failover = next;
            return this;
        }

        public OracleWorkload build() {
            if (volumes.isEmpty()) {
                throw new IllegalArgumentException("a workload needs at least one volume");
            }
            // two volumes through one client would overwrite each other's blocks
            if (volumes.values().stream().distinct().count() < volumes.size()) {
                throw new IllegalArgumentException("each volume needs its own client; volumes " + volumes.keySet()
                        + " share one");
            }
            return new OracleWorkload(this);
        }

        private static int percent(int percent, String what) {
            if (percent < 0 || percent > 100) {
                throw new IllegalArgumentException(what + " percentage must be 0..100, was " + percent);
            }
            return percent;
        }
    }
}
