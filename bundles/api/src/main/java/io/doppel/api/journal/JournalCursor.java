package io.doppel.api.journal;

import java.io.IOException;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A consumer's place in a journal (a peer, a backup). The journal keeps every record after
 * the lowest cursor, unless an {@link OverflowHandler} folds it.
 */
@ProviderType
public interface JournalCursor extends AutoCloseable {

    String consumer();

    /** The last position the consumer reported durable. */
    Position position();

    /** Moves the cursor forward (never back); persisted with the journal's metadata. */
    void advance(Position durableAtConsumer) throws IOException;

    /** Records between the cursor and the journal head. */
    long lagRecords();

    /** Forgets the cursor: the journal no longer keeps records for it. */
    void remove() throws IOException;

    /** Detaches from this handle without removing the persisted cursor. */
    @Override
    void close();
}
