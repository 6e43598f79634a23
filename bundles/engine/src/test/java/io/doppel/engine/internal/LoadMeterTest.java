package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicBoolean;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoadMeterTest {

    @TempDir
    Path dir;

    private static String stat(long user0, long idle0, long user1, long idle1) {
        return "cpu  " + (user0 + user1) + " 0 0 " + (idle0 + idle1) + " 0 0 0 0 0 0\n"
                + "cpu0 " + user0 + " 0 0 " + idle0 + " 0 0 0 0 0 0\n"
                + "cpu1 " + user1 + " 0 0 " + idle1 + " 0 0 0 0 0 0\nintr 1 2 3\n";
    }

    @Test
    void busyIsTheShareOfNonIdleTicksOnTheAllowedCpusOnly() throws Exception {
        Path stat = dir.resolve("stat");
        Files.writeString(stat, stat(100, 100, 100, 100));
        BitSet only0 = LoadMeter.parseCpuList("0");
        LoadMeter m = new LoadMeter(stat, only0);
        m.cpuBusy(); // first sample: a baseline
        // cpu0: 90 busy, 10 idle; cpu1 idle all along (not ours)
        Files.writeString(stat, stat(190, 110, 100, 200));
        Awaitility.await().until(() -> m.cpuBusy() > 0);
        assertThat(m.cpuBusy()).isCloseTo(0.9, org.assertj.core.data.Offset.offset(1e-9));
        // negative control: the same ticks over both CPUs read as under half busy
        LoadMeter both = new LoadMeter(stat, null);
        Files.writeString(stat, stat(100, 100, 100, 100));
        both.cpuBusy();
        Files.writeString(stat, stat(190, 110, 100, 200));
        Awaitility.await().until(() -> both.cpuBusy() > 0);
        assertThat(both.cpuBusy()).isCloseTo(90.0 / 200, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void replicationThreadsDoNotCountAsOtherLoad() throws Exception {
        Path stat = dir.resolve("stat");
        Files.writeString(stat, stat(0, 0, 0, 0));
        LoadMeter m = new LoadMeter(stat, LoadMeter.parseCpuList("0"));
        m.otherLoad();
        AtomicBoolean stop = new AtomicBoolean();
        Thread spin = new Thread(() -> {
            long x = 0;
            while (!stop.get()) {
                x += System.nanoTime() % 7;
            }
            if (x == 42) {
                System.out.print("");
            }
        }, "doppel-pull-test");
        spin.start();
        try {
            // the "CPU" reads fully busy; the spinning pull thread used a share of it, which is not other load
            long t0 = System.nanoTime();
            Awaitility.await().until(() -> System.nanoTime() - t0 > 300_000_000L);
            Files.writeString(stat, stat(1000, 0, 0, 0));
            double other = m.otherLoad();
            assertThat(m.cpuBusy()).isEqualTo(1.0);
            assertThat(other).as("busy minus the pull thread's share").isLessThan(0.5);
        } finally {
            stop.set(true);
            spin.join();
        }
        assertThat(LoadMeter.isReplication("doppel-transport-io-3-1")).isTrue();
        assertThat(LoadMeter.isReplication("doppel-nbd-worker-1")).as("host I/O is other load").isFalse();
    }

    @Test
    void cpuListsAndMissingProcFiles() {
        assertThat(LoadMeter.parseCpuList("0-3,6, 8-9").toString()).isEqualTo("{0, 1, 2, 3, 6, 8, 9}");
        assertThat(LoadMeter.allowedCpus(Path.of("/nonexistent/status"))).isNull();
        LoadMeter m = new LoadMeter(Path.of("/nonexistent/stat"), null);
        assertThat(m.cpuBusy()).isBetween(0.0, 1.0);
        assertThat(m.otherLoad()).isBetween(0.0, 1.0);
    }
}
