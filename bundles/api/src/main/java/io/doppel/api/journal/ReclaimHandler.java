package io.doppel.api.journal;

import java.io.IOException;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Asked to free journal space when an append finds the journal full: the engine forces its
 * volumes and calls {@link Journal#checkpoint}. Called without any journal lock held.
 */
@ConsumerType
public interface ReclaimHandler {
    void reclaim(Journal journal) throws IOException;
}
