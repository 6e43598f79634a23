package io.doppel.itests.harness;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A process started by {@link Processes#start}; its standard output and error go to {@link #log()}.
 * Closing the handle kills the process if it still runs, so a test that gives up never leaves
 * one behind.
 */
public final class BackgroundProcess implements AutoCloseable {

    private final Process process;
    private final List<String> command;
    private final Path log;
    private final long startedNanos;

    BackgroundProcess(Process process, List<String> command, Path log, long startedNanos) {
        this.process = process;
        this.command = List.copyOf(command);
        this.log = log;
        this.startedNanos = startedNanos;
    }

    public long pid() {
        return process.pid();
    }

    public ProcessHandle handle() {
        return process.toHandle();
    }

    public List<String> command() {
        return command;
    }

    public Path log() {
        return log;
    }

    /** What the process has written so far. */
    public String output() {
        return Processes.read(log);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Waits for the process to exit by itself. If it is still running after {@code timeout}, it is
     * killed and the result says {@linkplain ProcessResult#timedOut() timed out}.
     */
    public ProcessResult waitFor(Duration timeout) {
        boolean finished = Processes.waitFor(process, timeout);
        if (!finished) {
            Processes.killTree(process);
        }
        return result(!finished);
    }

    /**
     * Sends SIGTERM and waits up to {@code grace} for the process to exit; kills it with SIGKILL
     * after that (the result then says timed out).
     */
    public ProcessResult terminate(Duration grace) {
        if (process.isAlive()) {
            process.destroy();
        }
        return waitFor(grace);
    }

    /** Kills the process and its descendants with SIGKILL and waits for it. */
    public ProcessResult kill() {
        if (process.isAlive()) {
            Processes.killTree(process);
        }
        return result(false);
    }

    @Override
    public void close() {
        kill();
    }

    private ProcessResult result(boolean timedOut) {
        Duration elapsed = Duration.ofNanos(System.nanoTime() - startedNanos);
        return new ProcessResult(command, process.exitValue(), output(), "", elapsed, timedOut);
    }

    @Override
    public String toString() {
        return "process " + process.pid() + " `" + String.join(" ", command) + "`";
    }
}
