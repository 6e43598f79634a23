package io.doppel.nbd.internal;

import java.util.List;

/**
 * The server as {@code doppel:nbd-status} shows it.
 *
 * @param listening   "address:port", or why the server is not listening
 * @param connections open client connections
 */
public record NbdStatus(String listening, boolean up, List<ConnectionStatus> connections) {
    public NbdStatus {
        connections = List.copyOf(connections);
    }
}
