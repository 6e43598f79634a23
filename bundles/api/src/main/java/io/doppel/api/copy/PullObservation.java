package io.doppel.api.copy;

/**
 * What the secondary saw of its last pull, of the link and of both sites: the inputs from
 * which a pulled copy mode sets the next pull's interval and size.
 *
 * @param records                records the last pull returned
 * @param bytes                  bytes of those records
 * @param moreAvailable          the primary holds more records than it returned
 * @param pullMicros             how long the pull took
 * @param previousDelayMillis    the delay planned before that pull
 * @param linkBytesPerSecond     recent transfer rate on the link (both directions)
 * @param localJournalFree       free bytes in the secondary's journal
 * @param localJournalCapacity   the secondary journal's capacity
 * @param load                   the secondary's processing load apart from replication, 0 (idle) to
 *                               1 (saturated): what its hosts and other work use of its CPUs
 * @param primaryJournalUsed     bytes the primary's journal holds for this secondary, records it has
 *                               not pulled yet (from the primary's management information): past
 *                               about three quarters of the capacity they are folded into a map
 * @param primaryJournalCapacity the primary journal's capacity
 * @param primaryLoad            the primary's processing load, 0 to 1: how busy its CPUs are, all
 *                               work included (its management information)
 * @param primaryAppended        records the primary appended between the previous pull and this one
 *                               (its hosts are writing when above 0)
 * @param previousMemo           the memo of the plan that set the previous delay, 0 before the first
 */
public record PullObservation(int records, long bytes, boolean moreAvailable, long pullMicros, long previousDelayMillis,
                              double linkBytesPerSecond, long localJournalFree, long localJournalCapacity, double load,
                              long primaryJournalUsed, long primaryJournalCapacity, double primaryLoad,
                              long primaryAppended, int previousMemo) {

    /** An observation with no memo from a previous plan. */
    public PullObservation(int records, long bytes, boolean moreAvailable, long pullMicros, long previousDelayMillis,
                           double linkBytesPerSecond, long localJournalFree, long localJournalCapacity, double load,
                           long primaryJournalUsed, long primaryJournalCapacity, double primaryLoad, long primaryAppended) {
        this(records, bytes, moreAvailable, pullMicros, previousDelayMillis, linkBytesPerSecond, localJournalFree,
                localJournalCapacity, load, primaryJournalUsed, primaryJournalCapacity, primaryLoad, primaryAppended, 0);
    }

    /** An observation from a primary that reports no load (idle) and no appends. */
    public PullObservation(int records, long bytes, boolean moreAvailable, long pullMicros, long previousDelayMillis,
                           double linkBytesPerSecond, long localJournalFree, long localJournalCapacity, double load,
                           long primaryJournalUsed, long primaryJournalCapacity) {
        this(records, bytes, moreAvailable, pullMicros, previousDelayMillis, linkBytesPerSecond, localJournalFree,
                localJournalCapacity, load, primaryJournalUsed, primaryJournalCapacity, 0, 0, 0);
    }
}
