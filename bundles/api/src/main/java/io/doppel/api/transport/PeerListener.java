package io.doppel.api.transport;

import org.osgi.annotation.versioning.ConsumerType;

/** Whiteboard service told when a link to a peer comes up or goes down. */
@ConsumerType
public interface PeerListener {
    void linkChanged(PeerInfo peer);
}
