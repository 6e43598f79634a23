package io.doppel.nbd.internal;

/**
 * An export as the commands show it.
 *
 * @param connections clients attached to it now
 */
public record ExportStatus(String name, String uri, String volume, String snapshot, String mode,
        int connections, String description) {
}
