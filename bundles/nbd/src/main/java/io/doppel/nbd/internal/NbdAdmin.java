package io.doppel.nbd.internal;

import java.io.IOException;
import java.util.List;

/** What the Karaf commands of this bundle drive; registered by {@link NbdServer}. */
public interface NbdAdmin {

    /** Exports sorted by name. */
    List<ExportStatus> exports();

    /**
     * Adds an export and persists the registry.
     *
     * @throws IllegalArgumentException if the name is taken
     */
    ExportStatus addExport(Export export) throws IOException;

    /**
     * Removes an export and persists the registry.
     *
     * @param force also drop the clients attached to it; without it an export in use is refused
     * @return how many connections were dropped
     * @throws IllegalArgumentException if there is no such export
     * @throws IllegalStateException if clients are attached and {@code force} is false
     */
    int removeExport(String name, boolean force) throws IOException;

    NbdStatus status();
}
