package io.doppel.api.copy;

/**
 * The secondary's state when it applies journaled records to its volumes.
 *
 * @param pendingRecords  records journaled but not applied yet
 * @param load            processing load, 0 (idle) to 1 (saturated)
 * @param journalFree     free bytes in its journal (applying lets it release records)
 * @param journalCapacity its journal's capacity
 */
public record ApplyObservation(long pendingRecords, double load, long journalFree, long journalCapacity) {
}
