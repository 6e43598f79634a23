package io.doppel.api.copy;

/**
 * When to pull next and how much.
 *
 * @param delayMillis how long to wait before the next pull
 * @param maxBytes    most record bytes to ask for
 * @param reason      why, for pair status ("no records came back", "the primary holds more records")
 */
public record PullPlan(long delayMillis, long maxBytes, String reason) {
}
