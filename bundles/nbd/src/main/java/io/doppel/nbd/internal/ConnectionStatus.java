package io.doppel.nbd.internal;

/**
 * One client connection.
 *
 * @param remote   the client's address and port
 * @param export   the export it selected, or "" while it is still negotiating
 * @param requests requests answered so far
 * @param bytesIn  data bytes the client wrote (WRITE payloads)
 * @param bytesOut data bytes the client read (READ replies)
 * @param inFlight requests received and not yet answered
 */
public record ConnectionStatus(String remote, String export, long requests, long bytesIn, long bytesOut,
        int inFlight) {
}
