package io.doppel.api.copy;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A copy mode: how a pair moves its group's journal records to the peer and when a host
 * write counts as complete. The engine owns every piece of state (send queues, outstanding
 * acknowledgements, cursors, difference maps); a copy mode only decides, so its bundle can be
 * replaced while writes flow. Registered as a service with the property {@value #NAME} set to
 * {@link #name()}.
 */
@ConsumerType
public interface CopyMode {

    /** Service property naming the mode ("sync", "async"). */
    String NAME = "doppel.copy.mode";

    /** How records reach the peer. */
    enum Transfer {
        /** The primary sends each record as it is appended (in seq order). */
        PUSH,
        /** The secondary asks for records after a position, when the mode's plan says. */
        PULL
    }

    String name();

    Transfer transfer();

    /**
     * Whether a host write completes only once every in-sync peer of this mode holds its
     * record in its journal (and FLUSH/FUA only once it is durable there).
     */
    boolean waitsForPeer();

    /**
     * For {@link Transfer#PULL}: after each pull the secondary asks when to pull next and how
     * much. Called on the secondary; must not block.
     */
    PullPlan planPull(PullObservation last);

    /**
     * How many records the secondary may apply to its volumes now (0: wait a little), from its
     * load; applying is paced so that a busy secondary still serves its own hosts.
     */
    int applyBudget(ApplyObservation now);
}
