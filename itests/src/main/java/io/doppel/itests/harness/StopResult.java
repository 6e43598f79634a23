package io.doppel.itests.harness;

import java.time.Duration;

/**
 * How {@link Appliance#stop()} went.
 *
 * @param exitCode the Karaf process's exit code (137 if it had to be killed)
 * @param elapsed  from the stop request until the process was gone
 * @param graceful {@code false} if it did not exit in time and was killed with SIGKILL
 */
public record StopResult(int exitCode, Duration elapsed, boolean graceful) {
}
