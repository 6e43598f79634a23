package io.doppel.api.copy;

/**
 * When to pull next and how much.
 *
 * @param delayMillis how long to wait before the next pull
 * @param maxBytes    most record bytes to ask for
 * @param reason      why, for pair status ("no records came back", "the primary holds more records")
 * @param memo        what the mode wants handed back with the next observation of the same pair
 *                    ({@link PullObservation#previousMemo()}); the engine keeps it unread, so a
 *                    mode shared by many pairs can hold a state such as "draining a backlog"
 *                    from one pull to the next without keeping per-pair state itself
 */
public record PullPlan(long delayMillis, long maxBytes, String reason, int memo) {

    /** A plan with nothing to remember. */
    public PullPlan(long delayMillis, long maxBytes, String reason) {
        this(delayMillis, maxBytes, reason, 0);
    }
}
