package io.doppel.api.copy;

/**
 * What the secondary saw of its last pull and of both journals.
 *
 * @param records              records the last pull returned
 * @param bytes                bytes of those records
 * @param moreAvailable        the primary holds more records than it returned
 * @param pullMicros           how long the pull took
 * @param previousDelayMillis  the delay planned before that pull
 * @param linkBytesPerSecond   recent transfer rate on the link (both directions)
 * @param localJournalFree     free bytes in the secondary's journal
 * @param localJournalCapacity the secondary journal's capacity
 * @param load                 the secondary's processing load, 0 (idle) to 1 (saturated)
 * @param primaryJournalUsed   bytes the primary's journal holds (its management information)
 * @param primaryJournalCapacity the primary journal's capacity
 */
public record PullObservation(int records, long bytes, boolean moreAvailable, long pullMicros, long previousDelayMillis,
                              double linkBytesPerSecond, long localJournalFree, long localJournalCapacity, double load,
                              long primaryJournalUsed, long primaryJournalCapacity) {
}
