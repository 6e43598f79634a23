package io.doppel.api.transport;

import java.time.Instant;

/**
 * A trusted peer site and the state of the link to it.
 *
 * @param name        the operator's name for it (unique on this site)
 * @param address     host:port to dial, or empty when only the peer dials this site
 * @param fingerprint SHA-256 of the peer's certificate, hex pairs separated by ':'
 * @param siteId      the peer's site id, learned at the first handshake (empty before)
 * @param state       "connected", "connecting", "disconnected", "refused"
 * @param detail      why it is not connected (last error, refusal), or empty
 * @param since       when the state last changed
 * @param rttMicros   last heartbeat round trip, -1 when unknown
 * @param bytesSent   bytes written to the link since this site started
 * @param bytesReceived bytes read from the link since this site started
 */
public record PeerInfo(String name, String address, String fingerprint, String siteId, String state, String detail,
                       Instant since, long rttMicros, long bytesSent, long bytesReceived) {

    public boolean connected() {
        return "connected".equals(state);
    }
}
