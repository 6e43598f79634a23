package io.doppel.api.bitmap;

import java.io.IOException;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/** The store of difference maps, one per pair. */
@ProviderType
public interface DifferenceMaps {

    /** Opens the pair's map as last persisted, or an empty one covering nothing (position 0/0). */
    DifferenceMap open(String pairId) throws IOException;

    /** Deletes the pair's map. */
    void delete(String pairId) throws IOException;

    /** Pairs with a map on disk. */
    List<String> list() throws IOException;
}
