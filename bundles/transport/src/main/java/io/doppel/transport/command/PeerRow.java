package io.doppel.transport.command;

import io.doppel.api.transport.PeerInfo;

/**
 * A peer as the commands print it (JSON has no type for {@link java.time.Instant}: the time
 * is ISO-8601 text).
 */
public record PeerRow(String name, String address, String state, String detail, String since, String siteId,
        long rttMicros, long bytesSent, long bytesReceived, String fingerprint) {

    static PeerRow of(PeerInfo p) {
        return new PeerRow(p.name(), p.address(), p.state(), p.detail(), p.since().toString(), p.siteId(),
                p.rttMicros(), p.bytesSent(), p.bytesReceived(), p.fingerprint());
    }
}
