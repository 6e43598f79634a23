package io.doppel.api.journal;

import java.util.Objects;

/**
 * How to open a group's journal.
 *
 * @param group         the group's name (also the journal directory's name)
 * @param groupId       the group's number, stamped into every record
 * @param capacityBytes most bytes the journal's segments may occupy; 0 for the service default
 */
public record JournalOptions(String group, int groupId, long capacityBytes) {
    public JournalOptions {
        Objects.requireNonNull(group, "group");
        if (capacityBytes < 0) {
            throw new IllegalArgumentException("journal capacity must not be negative: " + capacityBytes);
        }
    }
}
