package io.doppel.api.transport;

import java.io.IOException;

/** The peer's handler failed a request; the message is the peer's. */
public class RemoteException extends IOException {
    private static final long serialVersionUID = 1L;

    public RemoteException(String message) {
        super(message);
    }
}
