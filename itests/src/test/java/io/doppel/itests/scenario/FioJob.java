package io.doppel.itests.scenario;

import io.doppel.itests.harness.BackgroundProcess;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.Processes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One fio job against an NBD export that writes 4 KiB blocks in random order, each with a
 * CRC32C verify header, and the matching verify-only run.
 * <p>
 * The write and verify command lines share every option that decides which blocks are written
 * and what they hold (name, range, block size, seed), so the verify run reads back exactly the
 * blocks the write run wrote. With {@code --verify_state_save=1} a write run that is stopped
 * early (its trigger fired) leaves {@code local-NAME-0-verify.state} in its working directory
 * naming the writes that completed; {@link #verifyCommand(boolean)} with {@code true} checks only
 * those. Output is JSON in {@code NAME-PHASE.json} in the working directory ({@link FioResult}).
 * <p>
 * fio's nbd engine spins forever when its server goes away, and SIGTERM does not stop it: never
 * take the server down under a running job except through the job's own trigger.
 */
final class FioJob {

    static final int BLOCK_SIZE = 4096;

    private final String name;
    private final String uri;
    private final String offset;
    private final String size;
    private final int seed;
    private final int ioDepth;

    private FioJob(String name, String uri, String offset, String size, int seed, int ioDepth) {
        if (!name.matches("[a-z][a-z0-9]*")) {
            throw new IllegalArgumentException("fio job name '" + name + "' must be lower-case letters and digits");
        }
        this.name = name;
        this.uri = Objects.requireNonNull(uri, "uri");
        this.offset = offset;
        this.size = size;
        this.seed = seed;
        this.ioDepth = ioDepth;
    }

    /** A job writing {@code size} (fio syntax, e.g. {@code 512M}) from offset 0 of {@code uri}. */
    static FioJob of(String name, String uri, String size, int seed) {
        return new FioJob(name, uri, "0", size, seed, 16);
    }

    FioJob offset(String newOffset) {
        return new FioJob(name, uri, newOffset, size, seed, ioDepth);
    }

    FioJob ioDepth(int depth) {
        return new FioJob(name, uri, offset, size, seed, depth);
    }

    /** The same job (same blocks, same contents) against another export. */
    FioJob against(String otherUri) {
        return new FioJob(name, otherUri, offset, size, seed, ioDepth);
    }

    String name() {
        return name;
    }

    /** The state file a write run stopped by its trigger leaves in its working directory. */
    Path stateFile(Path directory) {
        return directory.resolve("local-" + name + "-0-verify.state");
    }

    /** The write run; {@code extra} adds options such as {@code --rate_iops=...} or a trigger. */
    List<String> writeCommand(String phase, String... extra) {
        List<String> command = common(phase);
        command.addAll(List.of("--do_verify=0", "--verify_state_save=1"));
        command.addAll(List.of(extra));
        return command;
    }

    /**
     * The verify-only run: reads every block the write run wrote, or with {@code fromState} only
     * the writes named in the state file the write run saved when its trigger stopped it.
     */
    List<String> verifyCommand(boolean fromState) {
        List<String> command = common("verify");
        // without --verify_state_save=0 a verify-only run rewrites the state file on exit, naming
        // blocks the write run never wrote
        command.addAll(List.of("--do_verify=1", "--verify_only=1", "--verify_state_save=0"));
        if (fromState) {
            command.add("--verify_state_load=1");
        }
        return command;
    }

    private List<String> common(String phase) {
        return new ArrayList<>(List.of("fio", "--name=" + name, "--ioengine=nbd", "--uri=" + uri,
                "--rw=randwrite", "--bs=" + BLOCK_SIZE, "--iodepth=" + ioDepth, "--offset=" + offset,
                "--size=" + size, "--verify=crc32c", "--randseed=" + seed,
                "--output-format=json", "--output=" + outputName(phase)));
    }

    private String outputName(String phase) {
        return name + "-" + phase + ".json";
    }

    /** Runs {@code command} in {@code directory} to completion. */
    FioResult run(Path directory, Duration timeout, List<String> command) {
        String phase = phaseOf(command);
        return FioResult.of(Processes.run(timeout, new ProcessBuilder(command).directory(directory.toFile())),
                directory.resolve(outputName(phase)));
    }

    /** Starts {@code command} in {@code directory} in the background; its console output goes to NAME-PHASE.log. */
    BackgroundProcess start(Path directory, List<String> command) {
        String phase = phaseOf(command);
        return Processes.start(directory.resolve(name + "-" + phase + ".log"),
                new ProcessBuilder(command).directory(directory.toFile()));
    }

    /** Reads the result of a run started with {@link #start} after it ended. */
    FioResult result(Path directory, String phase, ProcessResult process) {
        return FioResult.of(process, directory.resolve(outputName(phase)));
    }

    private String phaseOf(List<String> command) {
        String prefix = "--output=" + name + "-";
        return command.stream().filter(argument -> argument.startsWith(prefix)).findFirst()
                .map(argument -> argument.substring(prefix.length(), argument.length() - ".json".length()))
                .orElseThrow(() -> new IllegalArgumentException("not a command of job " + name + ": " + command));
    }

    @Override
    public String toString() {
        return "fio job " + name + " (" + uri + ", offset " + offset + ", size " + size + ", seed " + seed + ")";
    }
}
