package io.doppel.itests.harness;

import java.time.Duration;
import java.util.List;

/**
 * How an external process ended.
 *
 * @param command  the command line
 * @param exitCode its exit code (137 when it was killed with SIGKILL, 143 after SIGTERM)
 * @param stdout   everything it wrote to standard output (for a background process: its log,
 *                 standard error included)
 * @param stderr   everything it wrote to standard error
 * @param elapsed  wall-clock time from start to exit
 * @param timedOut {@code true} when it did not finish in time and the harness killed it
 */
public record ProcessResult(List<String> command, int exitCode, String stdout, String stderr,
                            Duration elapsed, boolean timedOut) {

    public ProcessResult {
        command = List.copyOf(command);
    }

    public boolean succeeded() {
        return !timedOut && exitCode == 0;
    }

    /** Returns this result, or throws a {@link HarnessException} with the output if it did not succeed. */
    public ProcessResult requireSuccess() {
        if (!succeeded()) {
            throw new HarnessException(describe());
        }
        return this;
    }

    /** A multi-line account of the run, for failure messages. */
    public String describe() {
        StringBuilder text = new StringBuilder("`").append(String.join(" ", command)).append('`');
        if (timedOut) {
            text.append(" did not finish within ").append(Text.seconds(elapsed)).append(" and was killed");
        } else {
            text.append(" exited with ").append(exitCode).append(" after ").append(Text.seconds(elapsed));
        }
        Text.appendSection(text, "stdout", stdout);
        Text.appendSection(text, "stderr", stderr);
        return text.toString();
    }
}
