package io.doppel.api.copy;

/**
 * When to pull next and how much.
 *
 * @param delayMillis how long to wait before the next pull
 * @param maxBytes    most record bytes to ask for
 * @param reason      why, for pair status ("fixed interval", "primary journal over half full")
 */
public record PullPlan(long delayMillis, long maxBytes, String reason) {
}
