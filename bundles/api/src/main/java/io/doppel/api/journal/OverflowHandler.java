package io.doppel.api.journal;

import java.io.IOException;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Called when the journal is full and a consumer's cursor holds back the oldest segment.
 * The consumer folds what it still needs into its own durable state (a difference map),
 * after which the journal moves its cursor and frees the segments. Writes never stop for a
 * lagging consumer.
 */
@ConsumerType
public interface OverflowHandler {

    /**
     * Records the blocks of every record in {@code records} durably, then returns.
     *
     * @param records the records after the cursor, through {@code upTo}
     * @param upTo    where the cursor will stand afterwards
     */
    void fold(JournalReader records, Position upTo) throws IOException;
}
