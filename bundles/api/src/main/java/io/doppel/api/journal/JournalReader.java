package io.doppel.api.journal;

import java.io.IOException;

import org.osgi.annotation.versioning.ProviderType;

/** Reads records in seq order. Not thread-safe. */
@ProviderType
public interface JournalReader extends AutoCloseable {

    /** The next record, or null once the end given when the reader was opened is reached. */
    JournalRecord next() throws IOException;

    @Override
    void close() throws IOException;
}
