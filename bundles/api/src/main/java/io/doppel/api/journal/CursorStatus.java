package io.doppel.api.journal;

/**
 * @param consumer   the cursor's name
 * @param position   where it stands
 * @param lagRecords records between it and the head
 */
public record CursorStatus(String consumer, Position position, long lagRecords) {
}
