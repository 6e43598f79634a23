package io.doppel.api.failover;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Decides whether this site may take a group over. The engine asks the bound policy with the
 * highest service ranking before every takeover; with none bound, takeovers are refused.
 * {@code manual} allows what the operator asks for (the engine still refuses an Outdated or
 * inconsistent copy without {@code --force}). A quorum policy would allow a takeover only with
 * the coordination service's majority, and may start one itself when the primary's lease ends.
 */
@ConsumerType
public interface FailoverPolicy {

    /** The policy's name, shown in failover-status ("manual", "quorum"). */
    String name();

    /** What the engine knows when a takeover is asked for. */
    record TakeoverRequest(String group, String site, String primary, boolean byOperator, boolean force,
                           boolean outdated, boolean consistent, boolean primaryConnected) {
    }

    /** The answer; the reason is logged and shown in failover-status either way. */
    record Decision(boolean allowed, String reason) {

        public static Decision allow(String reason) {
            return new Decision(true, reason);
        }

        public static Decision refuse(String reason) {
            return new Decision(false, reason);
        }
    }

    Decision decide(TakeoverRequest request);
}
