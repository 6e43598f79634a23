package io.doppel.api.journal;

import java.io.IOException;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Opens and manages the groups' journals. Journals it opened become unusable when the
 * service goes away (for instance during a bundle update); the engine opens them again
 * from the next service.
 */
@ProviderType
public interface JournalService {

    /**
     * Opens a group's journal, creating it when new. An existing journal is scanned: a torn
     * or corrupt tail is cut (and reported in {@link Journal#recovery()}).
     *
     * @throws IllegalStateException if it is already open
     */
    Journal open(JournalOptions options) throws IOException;

    /** Deletes a closed journal and its files. */
    void delete(String group) throws IOException;

    /** Groups with a journal on disk. */
    List<String> list() throws IOException;

    /** Status of every open journal. */
    List<JournalStatus> status();
}
