package io.doppel.api.transport;

import java.io.IOException;

/** The link to a peer is down (or was lost while a request was outstanding). */
public class PeerUnavailableException extends IOException {
    private static final long serialVersionUID = 1L;

    public PeerUnavailableException(String message) {
        super(message);
    }

    public PeerUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
