package io.doppel.api.copy;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A copy mode: how a pair moves its group's journal records to the peer, when a host write
 * counts as complete, and when the peer makes what it received visible in its volumes. The
 * engine owns every piece of state (send queues, outstanding acknowledgements, cursors,
 * difference maps, staged data); a copy mode only decides, so its bundle can be replaced, or a
 * pair switched to another mode, while writes flow. Registered as a service with the property
 * {@value #NAME} set to {@link #name()}.
 * <p>
 * The modes the claims describe, as answers to these questions:
 * <table>
 * <caption>copy modes</caption>
 * <tr><th>mode</th><th>{@link #transfer()}</th><th>{@link #waitsForPeer()}</th><th>{@link #apply()}</th></tr>
 * <tr><td>sync (seed 001)</td><td>PUSH</td><td>yes: the record is in the peer's journal</td><td>CONTINUOUS</td></tr>
 * <tr><td>async, journal pull (seed 002)</td><td>PULL, paced by {@link #planPull}</td><td>no</td>
 *     <td>CONTINUOUS, paced by {@link #applyBudget}</td></tr>
 * <tr><td>relay (seed 004, claims 1-4)</td><td>PUSH to a relay site, which journals the records
 *     (its non-volatile storage) and forwards them when it chooses: a journal-only middle site of
 *     a cascade</td><td>yes: stored at the relay (every relay, when several)</td><td>CONTINUOUS</td></tr>
 * <tr><td>point-in-time backup (seed 003)</td><td>POINTS: at each point a host marks (a MARKER
 *     record), the blocks changed since the previous point, read from a copy-on-write snapshot
 *     of the point, then a completion signal</td><td>no</td><td>AT_RESTART_POINTS: the peer
 *     stages a point's blocks and builds the image only once the point is complete</td></tr>
 * <tr><td>delayed apply at restart points (seed 004, restart points)</td><td>PUSH or PULL</td>
 *     <td>either</td><td>AT_RESTART_POINTS, or SNAPSHOT_AT_RESTART_POINTS (apply at once, and keep
 *     a snapshot of each restart point to roll back to)</td></tr>
 * </table>
 * Redundancy coding on the wire (seed 004, data plus parity in separate transfer units) is not
 * a copy mode but a codec the transport applies to frames: {@link #codec()} names the one a
 * mode's records travel with.
 * <p>
 * An engine that does not carry a mode's {@link #transfer()} or {@link #apply()} yet leaves the
 * pair waiting for a mode it can run, with that reason in its status; it never runs a pair in
 * a mode it half understands.
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
        PULL,
        /**
         * At each point a host marks, the primary sends the blocks changed since the previous
         * point (from a snapshot of the point) and then a completion; no record stream.
         */
        POINTS
    }

    /** When the peer makes what it received visible in its volumes. */
    enum Apply {
        /** Each record in seq order, as soon as the pace allows ({@link #applyBudget}). */
        CONTINUOUS,
        /**
         * Only whole intervals between restart points (MARKER records): what arrived after the
         * last complete point stays staged, so the volumes always show a restart point.
         */
        AT_RESTART_POINTS,
        /** Each record at once, and a snapshot of the volumes at every restart point. */
        SNAPSHOT_AT_RESTART_POINTS
    }

    String name();

    Transfer transfer();

    /**
     * Whether a host write completes only once every in-sync peer of this mode holds its
     * record in its journal (and FLUSH/FUA only once it is durable there). For a relay, the
     * relay site is the peer: its journal is the non-volatile storage the claims name.
     */
    boolean waitsForPeer();

    /**
     * For {@link Transfer#PULL}: after each pull the secondary asks when to pull next and how
     * much. Called on the secondary; must not block. Whatever the plan's memo holds comes back
     * with the next observation of the same pair.
     */
    PullPlan planPull(PullObservation last);

    /**
     * How many records the secondary may apply to its volumes now (0: wait a little), from its
     * load; applying is paced so that a busy secondary still serves its own hosts.
     */
    int applyBudget(ApplyObservation now);

    /** When the peer applies what it received; continuous unless the mode says otherwise. */
    default Apply apply() {
        return Apply.CONTINUOUS;
    }

    /** The transfer codec the records travel with ("none": frames as they are). */
    default String codec() {
        return "none";
    }
}
