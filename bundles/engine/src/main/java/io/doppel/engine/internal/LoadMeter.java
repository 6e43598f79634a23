package io.doppel.engine.internal;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

/**
 * This site's processing load, sampled at most every {@value #WINDOW_MILLIS} ms when asked:
 * how busy the CPUs this process may run on are (from /proc/stat, so other processes on them
 * count), and that busy share without what replication itself uses (the threads that pull,
 * apply, serve and carry records), so that a secondary does not slow its own catch-up because
 * the catch-up keeps it busy. Where /proc is not readable, the load average over the available
 * processors stands in for both.
 */
final class LoadMeter implements SiteLoad {

    static final long WINDOW_MILLIS = 200;
    /** Threads whose CPU is replication's own work. */
    private static final String[] REPLICATION_THREADS = {"doppel-pull-", "doppel-apply-", "doppel-pair-", "doppel-target-",
            "doppel-replication", "doppel-transport"};

    private final Path procStat;
    private final BitSet cpus;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();

    private long sampledAt;
    private long[] lastTicks; // busy, total over the allowed CPUs
    private long lastReplicationNanos;
    private double busy;
    private double other;

    LoadMeter() {
        this(Path.of("/proc/stat"), allowedCpus(Path.of("/proc/self/status")));
    }

    LoadMeter(Path procStat, BitSet cpus) {
        this.procStat = procStat;
        this.cpus = cpus;
    }

    @Override
    public synchronized double cpuBusy() {
        sample();
        return busy;
    }

    @Override
    public synchronized double otherLoad() {
        sample();
        return other;
    }

    private void sample() {
        long now = System.nanoTime();
        if (lastTicks != null && now - sampledAt < WINDOW_MILLIS * 1_000_000) {
            return;
        }
        long[] ticks = ticks();
        long repl = replicationNanos();
        if (ticks == null) {
            double avg = os.getSystemLoadAverage();
            busy = avg < 0 ? 0 : Math.min(1.0, avg / os.getAvailableProcessors());
            other = busy;
        } else if (lastTicks != null && ticks[1] > lastTicks[1]) {
            busy = clamp((double) (ticks[0] - lastTicks[0]) / (ticks[1] - lastTicks[1]));
            double wallCpuNanos = (double) (now - sampledAt) * Math.max(1, cpus == null ? os.getAvailableProcessors() : cpus.cardinality());
            other = clamp(busy - Math.max(0, repl - lastReplicationNanos) / wallCpuNanos);
        }
        lastTicks = ticks == null ? new long[2] : ticks;
        lastReplicationNanos = repl;
        sampledAt = now;
    }

    private static double clamp(double v) {
        return Double.isNaN(v) ? 0 : Math.max(0, Math.min(1, v));
    }

    /** Busy and total ticks summed over the allowed CPUs, or null when /proc/stat cannot be read. */
    private long[] ticks() {
        List<String> lines;
        try {
            lines = Files.readAllLines(procStat);
        } catch (IOException | RuntimeException e) {
            return null;
        }
        long busyTicks = 0;
        long total = 0;
        boolean any = false;
        for (String line : lines) {
            if (!line.startsWith("cpu") || line.length() < 4 || !Character.isDigit(line.charAt(3))) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            int cpu;
            try {
                cpu = Integer.parseInt(f[0].substring(3));
            } catch (NumberFormatException e) {
                continue;
            }
            if (cpus != null && !cpus.get(cpu)) {
                continue;
            }
            // user nice system idle iowait irq softirq steal: idle and iowait are not busy
            long sum = 0;
            for (int i = 1; i < Math.min(f.length, 9); i++) {
                sum += Long.parseLong(f[i]);
            }
            long idle = Long.parseLong(f[4]) + (f.length > 5 ? Long.parseLong(f[5]) : 0);
            busyTicks += sum - idle;
            total += sum;
            any = true;
        }
        return any ? new long[] {busyTicks, total} : null;
    }

    private long replicationNanos() {
        if (!threads.isThreadCpuTimeSupported()) {
            return 0;
        }
        long sum = 0;
        long[] ids = threads.getAllThreadIds();
        ThreadInfo[] infos = threads.getThreadInfo(ids);
        for (int i = 0; i < ids.length; i++) {
            ThreadInfo t = infos[i];
            if (t != null && isReplication(t.getThreadName())) {
                long n = threads.getThreadCpuTime(ids[i]);
                if (n > 0) {
                    sum += n;
                }
            }
        }
        return sum;
    }

    static boolean isReplication(String threadName) {
        for (String p : REPLICATION_THREADS) {
            if (threadName.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    /** The CPUs in "Cpus_allowed_list: 0-3,6" of /proc/self/status, or null when not readable (all count). */
    static BitSet allowedCpus(Path status) {
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("Cpus_allowed_list:")) {
                    return parseCpuList(line.substring(line.indexOf(':') + 1).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: every CPU counts
        }
        return null;
    }

    static BitSet parseCpuList(String list) {
        BitSet out = new BitSet();
        for (String p : list.split(",")) {
            p = p.trim();
            if (p.isEmpty()) {
                continue;
            }
            int dash = p.indexOf('-');
            if (dash < 0) {
                out.set(Integer.parseInt(p));
            } else {
                out.set(Integer.parseInt(p.substring(0, dash)), Integer.parseInt(p.substring(dash + 1)) + 1);
            }
        }
        return out;
    }
}
