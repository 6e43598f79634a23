package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.ServerFixture.MIB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server against the real NBD clients installed on this machine (qemu-io, nbdinfo,
 * nbdsh, nbdcopy, fio, nbd-client). A missing client fails the test: it does not skip.
 */
class ClientToolsTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    /** Debian puts python3-libnbd under /usr/bin's python3; another python3 may come first. */
    private static final String PATH = "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv().getOrDefault("PATH", "");

    private record Result(int exit, String out, String err) {
        String all() {
            return out + err;
        }
    }

    @TempDir
    Path tmp;

    private ServerFixture fx;

    @BeforeEach
    void start() throws IOException {
        MemoryDeviceProvider devices = new MemoryDeviceProvider().volume("vol0", 16 * MIB).volume("data", 8 * MIB)
                .volume("fresh", 8 * MIB);
        fx = new ServerFixture(devices)
                .export("data", "data", null, false, "data volume")
                .export("fresh", "fresh", null, false, "")
                .export("ro", "data", null, true, "read-only view");
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    @Test
    void qemuIoWritesAndVerifiesAPattern() throws Exception {
        Result ok = run("qemu-io", "-f", "raw", "-t", "writeback", "-c", "write -P 0xab 0 1M",
                "-c", "read -P 0xab 0 1M", fx.uri("vol0"));
        assertThat(ok.exit()).as(ok.all()).isZero();
        assertThat(ok.out()).contains("wrote 1048576/1048576 bytes at offset 0")
                .contains("read 1048576/1048576 bytes at offset 0").doesNotContain("Pattern verification failed");
        assertThat(Arrays.copyOf(fx.devices.data("vol0"), MIB)).containsOnly((byte) 0xab);

        Result wrong = run("qemu-io", "-f", "raw", "-t", "writeback", "-c", "read -P 0xcd 0 1M", fx.uri("vol0"));
        assertThat(wrong.all()).contains("Pattern verification failed");
    }

    @Test
    void qemuIoUnalignedWriteAndRead() throws Exception {
        Result r = run("qemu-io", "-f", "raw", "-t", "writeback", "-c", "write -P 0x5c 1000 5000",
                "-c", "read -P 0x5c 1000 5000", "-c", "read -P 0 0 1000", "-c", "read -P 0 6000 2192",
                fx.uri("vol0"));
        assertThat(r.exit()).as(r.all()).isZero();
        assertThat(r.all()).doesNotContain("Pattern verification failed");
        byte[] data = fx.devices.data("vol0");
        assertThat(data[999]).isZero();
        assertThat(Arrays.copyOfRange(data, 1000, 6000)).containsOnly((byte) 0x5c);
        assertThat(data[6000]).isZero();
    }

    @Test
    void nbdinfoSeesTheFeaturesOfReadWriteAndReadOnlyExports() throws Exception {
        for (String feature : List.of("flush", "fua", "trim", "zero", "multi-conn")) {
            Result r = run("nbdinfo", "--can", feature, fx.uri("data"));
            assertThat(r.exit()).as("--can %s: %s", feature, r.all()).isZero();
        }
        // negative controls: a read-only export offers no trim, and says it is read-only
        Result trim = run("nbdinfo", "--can", "trim", fx.uri("ro"));
        assertThat(trim.exit()).as(trim.all()).isEqualTo(2);
        Result ro = run("nbdinfo", "--is", "read-only", fx.uri("ro"));
        assertThat(ro.exit()).as(ro.all()).isZero();
        Result rw = run("nbdinfo", "--is", "read-only", fx.uri("data"));
        assertThat(rw.exit()).as(rw.all()).isEqualTo(2);
    }

    @Test
    void nbdinfoListsTheExports() throws Exception {
        Result r = run("nbdinfo", "--list", "nbd://127.0.0.1:" + fx.port());
        assertThat(r.exit()).as(r.all()).isZero();
        assertThat(r.out()).contains("export=\"data\"").contains("export=\"fresh\"").contains("export=\"ro\"")
                .contains("export=\"vol0\"").contains("description: data volume").contains("read-only view");
        Result info = run("nbdinfo", fx.uri("vol0"));
        assertThat(info.exit()).as(info.all()).isZero();
        assertThat(info.out()).contains("export-size: " + 16 * MIB).contains("block_size_preferred: 4096");
    }

    @Test
    void nbdClientListsTheExports() throws Exception {
        Result r = run("nbd-client", "-l", "127.0.0.1", String.valueOf(fx.port()));
        assertThat(r.exit()).as(r.all()).isZero();
        // one line per export: "name" or "name: description"
        assertThat(r.out().lines().map(l -> l.split(":")[0].strip()).toList()).contains("data", "fresh", "ro", "vol0");
        assertThat(r.out()).contains("data: data volume");
    }

    @Test
    void nbdshWritesWithFuaZeroesTrimsFlushesAndReads() throws Exception {
        String script = String.join("\n",
                "h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)",
                "h.connect_uri('" + fx.uri("vol0") + "')",
                "assert h.can_fua() and h.can_zero() and h.can_trim() and h.can_flush() and h.can_multi_conn()",
                "buf = bytes(range(256)) * 16",
                "h.pwrite(buf, 4096, nbd.CMD_FLAG_FUA)",
                "assert h.pread(4096, 4096) == buf, 'read after FUA write'",
                "h.zero(4096, 4096)",
                "assert h.pread(4096, 4096) == bytes(4096), 'zeroed range'",
                "h.pwrite(buf * 2, 8192)",
                "h.trim(8192, 8192)",
                "h.flush()",
                "assert h.pread(8192, 8192) == bytes(8192), 'trimmed range'",
                "h.pwrite(buf, 20000)",
                "assert h.pread(4096, 20000) == buf, 'unaligned'",
                "seen = []",
                "h.block_status(65536, 0, lambda ctx, off, ents, err: seen.append((ctx, off, list(ents))))",
                "assert seen == [('base:allocation', 0, [65536, 0])], seen",
                "h.shutdown()",
                "print('nbdsh script passed')");
        Result r = run("nbdsh", "-c", script);
        assertThat(r.exit()).as(r.all()).isZero();
        assertThat(r.out()).contains("nbdsh script passed");
        assertThat(fx.devices.fuaWrites.get()).isEqualTo(1);
        assertThat(fx.devices.zeroes.get()).isEqualTo(1);
        assertThat(fx.devices.trims.get()).isEqualTo(1);
        assertThat(fx.devices.flushes.get()).isEqualTo(1);

        // negative control: a false assertion in the script fails it
        Result bad = run("nbdsh", "-u", fx.uri("vol0"), "-c", "assert h.pread(16, 20001) == bytes(16)");
        assertThat(bad.exit()).isNotZero();
    }

    @Test
    void nbdcopyOfTheExportHashesLikeTheBackingData() throws Exception {
        new Random(42).nextBytes(fx.devices.data("data"));
        String expected = fx.devices.sha256("data");
        Result r = run("bash", "-o", "pipefail", "-c", "nbdcopy " + fx.uri("data") + " - | sha256sum");
        assertThat(r.exit()).as(r.all()).isZero();
        assertThat(r.out().split("\\s+")[0]).isEqualTo(expected);
        // negative control: another volume hashes differently
        assertThat(fx.devices.sha256("fresh")).isNotEqualTo(expected);
    }

    @Test
    void nbdcopyUploadsAFileWithHolesOverSeveralConnections() throws Exception {
        byte[] image = new byte[8 * MIB];
        new Random(7).nextBytes(image);
        Arrays.fill(image, 2 * MIB, 5 * MIB, (byte) 0); // a hole nbdcopy sends as WRITE_ZEROES
        Path file = tmp.resolve("image.raw");
        Files.write(file, image);
        Arrays.fill(fx.devices.data("fresh"), (byte) 0x77);
        Result r = run("nbdcopy", "--flush", "--connections=4", file.toString(), fx.uri("fresh"));
        assertThat(r.exit()).as(r.all()).isZero();
        assertThat(fx.devices.data("fresh")).isEqualTo(image);
        assertThat(fx.devices.flushes.get()).isPositive();
    }

    @Test
    void fioVerifiesWhatItWrote() throws Exception {
        List<String> job = List.of("--name=verify", "--ioengine=nbd", "--rw=randwrite", "--bs=4k", "--iodepth=8",
                "--size=4M", "--verify=crc32c", "--randseed=1234", "--fsync=64");
        Result write = fio(job, "--uri=" + fx.uri("data"), "--do_verify=1", "--output=" + tmp.resolve("w.txt"));
        assertThat(write.exit()).as(write.all()).isZero();
        assertThat(Files.readString(tmp.resolve("w.txt"))).contains("err= 0");
        assertThat(fx.devices.flushes.get()).isPositive();

        Result again = fio(job, "--uri=" + fx.uri("data"), "--verify_only=1", "--do_verify=1",
                "--output=" + tmp.resolve("v.txt"));
        assertThat(again.exit()).as(again.all()).isZero();

        // negative control: the same verification fails on a volume that was never written
        Result fresh = fio(job, "--uri=" + fx.uri("fresh"), "--verify_only=1", "--do_verify=1",
                "--output=" + tmp.resolve("f.txt"));
        assertThat(fresh.exit()).as("verification of an unwritten volume").isNotZero();
    }

    private Result fio(List<String> job, String... more) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("fio");
        cmd.addAll(job);
        cmd.addAll(List.of(more));
        return run(cmd.toArray(String[]::new));
    }

    /** Runs a client in the foreground with a deadline; its output goes to files (no pipe stalls). */
    private Result run(String... command) throws Exception {
        String binary = command[0];
        if (find(binary) == null) {
            fail(binary + " is not installed (searched " + PATH + "); the NBD client tests need qemu-utils,"
                    + " libnbd-bin, python3-libnbd, fio and nbd-client");
        }
        ProcessBuilder pb = new ProcessBuilder(command).directory(tmp.toFile()); // fio leaves state files
        pb.environment().put("PATH", PATH);
        pb.environment().put("LIBNBD_DEBUG", "0");
        File out = Files.createTempFile(tmp, "out", ".txt").toFile();
        File err = Files.createTempFile(tmp, "err", ".txt").toFile();
        pb.redirectOutput(out).redirectError(err).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p = pb.start();
        if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            fail(String.join(" ", command) + " did not finish within " + TIMEOUT + ": "
                    + Files.readString(err.toPath()));
        }
        return new Result(p.exitValue(), Files.readString(out.toPath(), StandardCharsets.UTF_8),
                Files.readString(err.toPath(), StandardCharsets.UTF_8));
    }

    private static Path find(String binary) {
        for (String dir : PATH.split(":")) {
            if (!dir.isEmpty()) {
                Path p = Paths.get(dir, binary);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }
}
