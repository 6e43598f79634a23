package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.BackgroundProcess;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.Processes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SIGKILL of the appliance under a random-write load: every write fio saw acknowledged is there
 * after the restart, and the journal recovers (redo, a new epoch, the group serving).
 * <p>
 * fio's own trigger kills the JVM: when {@code --trigger-timeout} expires, fio stops issuing,
 * saves the list of completed writes ({@code --verify_state_save}) and runs the trigger command,
 * {@code kill -9 <JVM pid>}. Killing the server under a running fio instead would leave fio's nbd
 * engine spinning. The harness then reaps the dead JVM ({@link Appliance#kill()}) and starts it
 * again on the same directory; a verify-only run with {@code --verify_state_load} reads back every
 * acknowledged write.
 * <p>
 * fio stops issuing before it runs the trigger, so a second client writes another volume of the
 * same group meanwhile: the kill finds its requests in flight, and the journal's tail may hold a
 * torn record, which recovery cuts. Those writes were never acknowledged and are not checked.
 * <p>
 * Two crashes in a row, each job on its own half of vol0, so that the second verify also shows
 * that the first job's writes survived both crashes. The negative control runs the same verify
 * against a fresh volume, where it must fail.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CrashRecoveryIT {

    private static final Logger LOG = LoggerFactory.getLogger(CrashRecoveryIT.class);

    private static final String GROUP = "default";
    private static final Duration FIO_TIMEOUT = Duration.ofSeconds(60);
    /** A second volume of the group, written by a client whose writes are in flight at the kill. */
    private static final String SPILL = "spill";
    /** Fewer verified blocks than this would make the check nearly vacuous. */
    private static final long MIN_VERIFIED = 1000;

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    private static Appliance appliance;
    private static Path fioDir;
    private static final List<FioJob> crashedJobs = new ArrayList<>();
    /** Each crashed job's verify state as the write run left it; verify runs must not change it. */
    private static final Map<String, byte[]> states = new HashMap<>();

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("crash").startAll();
        appliance = cluster.appliance("crash");
        fioDir = Scenario.directory(cluster.workDir(), "fio");
        appliance.execOk("doppel:volume-create " + SPILL + " 1G");
        appliance.execOk("doppel:export-add " + SPILL);
    }

    @Test
    @Order(1)
    void everyAcknowledgedWriteSurvivesTwoKillsUnderLoad() {
        String uri = appliance.nbdUri("vol0");
        FioJob first = FioJob.of("crasha", uri, "512M", 42);
        FioJob second = FioJob.of("crashb", uri, "512M", 43).offset("512M");

        crashUnderLoad(first);
        assertVerifies(first);

        crashUnderLoad(second);
        assertVerifies(second);
        // the first job's writes went through a second crash and recovery
        assertVerifies(first);
    }

    @Test
    @Order(2)
    void theSameVerifyFailsOnAFreshVolume() {
        assertThat(crashedJobs).as("jobs written by the first test").isNotEmpty();
        appliance.execOk("doppel:volume-create vol1 1G");
        appliance.execOk("doppel:export-add vol1");

        FioJob job = crashedJobs.get(0).against(appliance.nbdUri("vol1"));
        FioResult verify = job.run(fioDir, FIO_TIMEOUT, job.verifyCommand(true));

        LOG.info("Negative control: verify of {} on the fresh vol1 exited {} with job error {}", job.name(),
                verify.exitCode(), verify.jobError());
        assertThat(verify.process().timedOut()).isFalse();
        assertThat(verify.exitCode()).as("verify against a volume that never saw the writes\n%s", verify.describe())
                .isNotZero();
        assertThat(verify.jobError()).isNotZero();
        assertThat(verify.process().stdout() + verify.process().stderr()).contains("verify:");
    }

    /**
     * Runs {@code job} until its trigger kills the JVM 4 s in, reaps the JVM, starts the appliance
     * again and checks that the journal recovered.
     */
    private static void crashUnderLoad(FioJob job) {
        long pid = appliance.jvmPid().orElseThrow();
        JsonNode journalBefore = Scenario.journal(appliance, GROUP);
        long headBefore = journalBefore.path("head").path("seq").asLong();
        long epochBefore = journalBefore.path("epoch").asLong();

        // fio stops issuing before its trigger runs; this client keeps 1 MiB writes in flight to the
        // same journal, so the kill may tear a record at the journal's tail
        ProcessResult spill;
        FioResult write;
        try (BackgroundProcess spiller = startSpill(job.name())) {
            write = job.run(fioDir, FIO_TIMEOUT, job.writeCommand("write", "--rate_iops=3000",
                    "--trigger-timeout=4", "--trigger=kill -9 " + pid));
            spill = spiller.waitFor(Duration.ofSeconds(30));
        }

        assertThat(write.exitCode()).as("fio exits 0 after running its trigger\n%s", write.describe()).isZero();
        assertThat(write.jobError()).as("write errors before the kill\n%s", write.describe()).isZero();
        assertThat(write.writes()).as("writes before the kill").isGreaterThan(MIN_VERIFIED);
        assertThat(job.stateFile(fioDir)).as("fio's verify state").exists();
        states.put(job.name(), read(job.stateFile(fioDir)));
        // the trigger, not the harness, killed it; now let the harness reap it
        await("JVM " + pid + " killed by fio's trigger").atMost(Duration.ofSeconds(10))
                .until(() -> !appliance.isRunning());
        appliance.kill();
        assertThat(ProcessHandle.of(pid).map(Processes::isGone).orElse(true)).as("JVM %d gone", pid).isTrue();
        LOG.info("{}: {} writes completed, then fio killed JVM {} (journal head before: seq {}); the other client "
                + "had {} writes done and {} failed", job, write.writes(), pid, headBefore,
                count(spill.stdout(), "wrote "), count(spill.stdout(), "write failed"));

        long logOffset = appliance.karafLog().size();
        Duration restart = appliance.start();

        Scenario.LogMatch redo = Scenario.awaitLogLine(appliance, logOffset,
                "Group " + GROUP + ": redid (\\d+) record\\(s\\) from (\\S+) to (\\d+)/(\\d+) .* now in epoch (\\d+)",
                Duration.ofSeconds(30));
        long redone = Long.parseLong(redo.group(1));
        long recoveredHead = Long.parseLong(redo.group(4));
        LOG.info("Restarted in {} ms; {}", restart.toMillis(), redo.matcher().group());
        assertThat(recoveredHead - headBefore).as("records journaled by the crashed run")
                .isGreaterThanOrEqualTo(write.writes());
        assertThat(redone).as("records redone").isLessThanOrEqualTo(recoveredHead - headBefore);
        assertThat(Long.parseLong(redo.group(5))).as("a new epoch after the unclean stop").isEqualTo(epochBefore + 1);
        appliance.karafLog().grepSince(logOffset, "journal tail cut").forEach(line -> LOG.info("Recovery: {}", line));

        JsonNode status = appliance.execJson("doppel:status --json");
        assertThat(status.path("serving").asBoolean()).as("I/O admitted\n%s", status).isTrue();
        assertThat(Scenario.group(appliance, GROUP).path("state").asText()).isEqualTo("serving");
        JsonNode journals = appliance.execJson("doppel:journal-status --json");
        assertThat(journals.isArray()).as("all open journals\n%s", journals).isTrue();
        assertThat(journals.findValuesAsText("group")).containsExactly(GROUP);
        JsonNode journal = Scenario.journal(appliance, GROUP);
        assertThat(journal.path("epoch").asLong()).isEqualTo(epochBefore + 1);
        assertThat(journal.path("head").path("seq").asLong()).isEqualTo(recoveredHead);
        assertThat(journal.path("durable").path("seq").asLong()).as("recovery forced the kept segments")
                .isEqualTo(recoveredHead);
        assertThat(appliance.unhealthyBundles()).isEmpty();
        crashedJobs.add(job);
    }

    /** qemu-io writing 1 MiB at a time, with short pauses, across the spill volume for longer than the job runs. */
    private static BackgroundProcess startSpill(String name) {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "raw", "-t", "writeback"));
        for (int i = 0; i < 1000; i++) {
            command.addAll(List.of("-c", "write -P 0x77 " + (i % 1024) + "M 1M", "-c", "sleep 5"));
        }
        command.add(appliance.nbdUri(SPILL));
        return Processes.start(fioDir.resolve(name + "-spill.log"), command.toArray(String[]::new));
    }

    private static long count(String text, String what) {
        return text.lines().filter(line -> line.startsWith(what)).count();
    }

    private static void assertVerifies(FioJob job) {
        FioResult verify = job.run(fioDir, FIO_TIMEOUT, job.verifyCommand(true));
        assertThat(verify.exitCode()).as("verify of %s\n%s", job, verify.describe()).isZero();
        assertThat(verify.jobError()).isZero();
        assertThat(verify.reads()).as("acknowledged writes read back and checked").isGreaterThan(MIN_VERIFIED);
        LOG.info("{}: {} acknowledged writes verified after the crash", job, verify.reads());
        assertThat(read(job.stateFile(fioDir))).as("the verify state the write run saved, unchanged")
                .isEqualTo(states.get(job.name()));
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }
}
