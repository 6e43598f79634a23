package io.doppel.itests.harness;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs external commands (qemu-io, fio, nbdcopy, ssh, ...) from tests.
 * <p>
 * Every process is waited for: this sandbox's PID 1 does not reap orphans, so a process whose
 * parent does not wait for it stays a zombie. A process that outlives its timeout is killed with
 * SIGKILL together with its descendants (children first, so that their parent still reaps them),
 * then waited for.
 * <p>
 * Output goes to files rather than pipes, so that no reader threads are needed and a chatty
 * process can never block on a full pipe. Standard input is {@code /dev/null} unless the caller
 * redirected it.
 */
public final class Processes {

    private static final File DEV_NULL = new File("/dev/null");
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(30);

    private Processes() {
    }

    /** Runs a command to completion, killing it after {@code timeout}. */
    public static ProcessResult run(Duration timeout, String... command) {
        return run(timeout, new ProcessBuilder(command));
    }

    /** Runs a command to completion, killing it after {@code timeout}. */
    public static ProcessResult run(Duration timeout, List<String> command) {
        return run(timeout, new ProcessBuilder(command));
    }

    /**
     * Runs a prepared command (working directory, environment) to completion, killing it after
     * {@code timeout}. The builder's output redirections are replaced by capture files.
     */
    public static ProcessResult run(Duration timeout, ProcessBuilder builder) {
        Path stdout = createTempFile(".out");
        Path stderr = createTempFile(".err");
        try {
            builder.redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
            defaultInputToDevNull(builder);
            long started = System.nanoTime();
            Process process = start(builder);
            boolean finished = waitFor(process, timeout);
            if (!finished) {
                killTree(process);
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - started);
            return new ProcessResult(builder.command(), process.exitValue(), read(stdout), read(stderr),
                    elapsed, !finished);
        } finally {
            deleteQuietly(stdout);
            deleteQuietly(stderr);
        }
    }

    /**
     * Starts a command in the background; standard output and error are appended to {@code log}.
     * The caller waits for it or kills it through the returned handle.
     */
    public static BackgroundProcess start(Path log, String... command) {
        return start(log, new ProcessBuilder(command));
    }

    /** Starts a prepared command in the background; standard output and error are appended to {@code log}. */
    public static BackgroundProcess start(Path log, ProcessBuilder builder) {
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the directory of " + log, e);
        }
        builder.redirectErrorStream(true).redirectOutput(Redirect.appendTo(log.toFile()));
        defaultInputToDevNull(builder);
        long started = System.nanoTime();
        return new BackgroundProcess(start(builder), builder.command(), log, started);
    }

    /**
     * Whether a process has ended. A zombie (ended, not yet reaped) counts as ended: an orphan
     * re-parented to this sandbox's PID 1 stays a zombie forever.
     */
    public static boolean isGone(ProcessHandle handle) {
        if (!handle.isAlive()) {
            return true;
        }
        try {
            // /proc/PID/stat: "pid (comm) state ..."; comm may contain spaces and parentheses.
            String stat = Files.readString(Path.of("/proc", Long.toString(handle.pid()), "stat"));
            int end = stat.lastIndexOf(')');
            return end > 0 && end + 2 < stat.length() && stat.charAt(end + 2) == 'Z';
        } catch (IOException e) {
            return true;
        }
    }

    /** Kills a process and all its descendants with SIGKILL and waits for the process. */
    static void killTree(Process process) {
        // Take the descendants before the parent dies: afterwards they belong to PID 1.
        List<ProcessHandle> descendants = process.descendants().toList();
        descendants.forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        if (!waitFor(process, KILL_TIMEOUT)) {
            throw new HarnessException("Process " + process.pid() + " survived SIGKILL for "
                    + Text.seconds(KILL_TIMEOUT));
        }
    }

    /** Waits for a process; on interruption kills it, keeps the interrupt flag and throws. */
    static boolean waitFor(Process process, Duration timeout) {
        try {
            return process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            throw new HarnessException("Interrupted while waiting for process " + process.pid(), e);
        }
    }

    private static Process start(ProcessBuilder builder) {
        try {
            return builder.start();
        } catch (IOException e) {
            throw new HarnessException("Cannot start `" + String.join(" ", builder.command()) + "`", e);
        }
    }

    private static void defaultInputToDevNull(ProcessBuilder builder) {
        if (builder.redirectInput() == Redirect.PIPE) {
            builder.redirectInput(Redirect.from(DEV_NULL));
        }
    }

    private static Path createTempFile(String suffix) {
        try {
            return Files.createTempFile("doppel-process-", suffix);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create a file for process output", e);
        }
    }

    static String read(Path file) {
        try {
            // Lenient decoding: tools may print bytes that are not UTF-8.
            return Files.exists(file) ? new String(Files.readAllBytes(file), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // a leftover temporary file is harmless
        }
    }
}
