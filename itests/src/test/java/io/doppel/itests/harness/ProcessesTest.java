package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessesTest {

    @TempDir
    Path dir;

    @Test
    void capturesOutputErrorAndExitCodeSeparately() {
        ProcessResult result = Processes.run(Duration.ofSeconds(10), "sh", "-c", "echo out; echo err >&2; exit 3");

        assertThat(result.exitCode()).isEqualTo(3);
        assertThat(result.stdout()).isEqualTo("out\n");
        assertThat(result.stderr()).isEqualTo("err\n");
        assertThat(result.timedOut()).isFalse();
        assertThat(result.succeeded()).isFalse();
        assertThatThrownBy(result::requireSuccess)
                .isInstanceOf(HarnessException.class)
                .hasMessageContaining("exited with 3")
                .hasMessageContaining("out")
                .hasMessageContaining("err");
    }

    @Test
    void succeedsOnExitCodeZero() {
        ProcessResult result = Processes.run(Duration.ofSeconds(10), "true").requireSuccess();

        assertThat(result.succeeded()).isTrue();
        assertThat(result.stdout()).isEmpty();
    }

    @Test
    void standardInputIsEmptySoReadersDoNotHang() {
        ProcessResult result = Processes.run(Duration.ofSeconds(10), "cat");

        assertThat(result.timedOut()).isFalse();
        assertThat(result.exitCode()).isZero();
    }

    @Test
    void killsAProcessTreeThatOutlivesItsTimeout() {
        // the shell's child writes its pid so the test can check that it died too
        Path childPid = dir.resolve("child.pid");
        ProcessResult result = Processes.run(Duration.ofMillis(500), "sh", "-c",
                "sleep 60 & echo $! > " + childPid + "; wait");

        assertThat(result.timedOut()).isTrue();
        assertThat(result.succeeded()).isFalse();
        assertThat(result.elapsed()).isLessThan(Duration.ofSeconds(20));
        assertThat(result.describe()).contains("did not finish within");
        assertGone(Long.parseLong(Processes.read(childPid).trim()));
    }

    @Test
    void backgroundProcessCanBeWaitedFor() {
        Path log = dir.resolve("logs/echo.log");
        try (BackgroundProcess process = Processes.start(log, "sh", "-c", "echo started; echo oops >&2")) {
            ProcessResult result = process.waitFor(Duration.ofSeconds(10));

            assertThat(result.succeeded()).isTrue();
            assertThat(result.stdout()).contains("started").contains("oops");
            assertThat(process.isAlive()).isFalse();
        }
    }

    @Test
    void backgroundProcessIsKilledWithItsChildren() {
        Path childPid = dir.resolve("child.pid");
        BackgroundProcess process = Processes.start(dir.resolve("tree.log"), "sh", "-c",
                "sleep 60 & echo $! > " + childPid + "; wait");
        await().atMost(Duration.ofSeconds(10)).until(() -> !Processes.read(childPid).isBlank());
        long child = Long.parseLong(Processes.read(childPid).trim());

        process.kill();

        // no exit code check: once its child is gone the shell may exit by itself before SIGKILL lands
        assertThat(process.isAlive()).isFalse();
        assertGone(process.pid());
        assertGone(child);
    }

    @Test
    void killEndsAProcessWithSigkill() {
        BackgroundProcess process = Processes.start(dir.resolve("kill.log"), "sleep", "60");

        assertThat(process.kill().exitCode()).isEqualTo(137);
    }

    @Test
    void terminateSendsSigterm() {
        BackgroundProcess process = Processes.start(dir.resolve("term.log"), "sleep", "60");

        ProcessResult result = process.terminate(Duration.ofSeconds(10));

        assertThat(result.timedOut()).isFalse();
        assertThat(result.exitCode()).isEqualTo(143);
    }

    @Test
    void closingAHandleKillsWhatStillRuns() {
        BackgroundProcess process = Processes.start(dir.resolve("close.log"), "sleep", "60");
        process.close();

        assertThat(process.isAlive()).isFalse();
    }

    @Test
    void backgroundOutputIsAppendedAcrossRuns() throws Exception {
        Path log = dir.resolve("append.log");
        Files.writeString(log, "before\n");

        Processes.start(log, "echo", "after").waitFor(Duration.ofSeconds(10));

        assertThat(Files.readString(log)).isEqualTo("before\nafter\n");
    }

    @Test
    void aMissingProgramIsReportedByName() {
        assertThatThrownBy(() -> Processes.run(Duration.ofSeconds(5), "no-such-program-doppel"))
                .isInstanceOf(HarnessException.class)
                .hasMessageContaining("no-such-program-doppel");
    }

    @Test
    void aLiveProcessIsNotGone() {
        assertThat(Processes.isGone(ProcessHandle.current())).isFalse();
    }

    private static void assertGone(long pid) {
        await("process " + pid + " gone").atMost(Duration.ofSeconds(10))
                .until(() -> ProcessHandle.of(pid).map(Processes::isGone).orElse(true));
    }
}
