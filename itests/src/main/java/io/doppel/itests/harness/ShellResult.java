package io.doppel.itests.harness;

import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What a Karaf console command printed and how it ended, as seen through {@code ssh}.
 * <p>
 * Karaf ends a command that throws (including "Command not found") with exit status 1 and prints
 * {@code Error executing command: ...} on the output. {@code ssh} itself ends with 255 when it
 * cannot connect or log in. Karaf's colour escapes and ssh's "Connection ... closed" notice are
 * removed; trailing blank space is trimmed.
 * <p>
 * A failure inside a pipe is not reported: {@code bundle:start 999 | grep x} ends with 0.
 *
 * @param appliance  the name of the appliance the command ran on
 * @param command    the console command line
 * @param exitStatus the exit status ssh reported
 * @param output     what the command printed (Karaf prints its errors here too)
 * @param errors     what ssh printed on standard error
 * @param elapsed    wall-clock time of the whole ssh call
 */
public record ShellResult(String appliance, String command, int exitStatus, String output, String errors,
                          Duration elapsed) {

    /** The exit status of {@code ssh} when the connection or the login failed. */
    public static final int SSH_FAILURE = 255;

    private static final Pattern CONNECTION_CLOSED =
            Pattern.compile("(?m)^Connection to \\S+ closed( by remote host)?\\.$\\n?");

    static ShellResult of(String appliance, String command, ProcessResult process) {
        return new ShellResult(appliance, command, process.exitCode(), clean(process.stdout()),
                CONNECTION_CLOSED.matcher(clean(process.stderr())).replaceAll("").stripTrailing(),
                process.elapsed());
    }

    private static String clean(String text) {
        return Text.stripAnsi(text).replace("\r", "").stripTrailing();
    }

    public boolean succeeded() {
        return exitStatus == 0;
    }

    public boolean failed() {
        return exitStatus != 0;
    }

    /** Whether ssh could not reach the console at all (appliance down, port closed, login refused). */
    public boolean unreachable() {
        return exitStatus == SSH_FAILURE;
    }

    /** The output split into lines (none for empty output). */
    public List<String> lines() {
        return output.isEmpty() ? List.of() : output.lines().toList();
    }

    /** Returns this result, or throws a {@link CommandFailedException} naming the command and its output. */
    public ShellResult requireSuccess() {
        if (failed()) {
            throw new CommandFailedException(this);
        }
        return this;
    }

    /** A multi-line account of the call, for failure messages. */
    public String describe() {
        StringBuilder text = new StringBuilder("`").append(command).append("` on ").append(appliance)
                .append(" ended with ").append(exitStatus);
        if (unreachable()) {
            text.append(" (ssh could not connect or log in)");
        }
        text.append(" after ").append(Text.seconds(elapsed));
        Text.appendSection(text, "output", output);
        Text.appendSection(text, "ssh errors", errors);
        return text.toString();
    }
}
