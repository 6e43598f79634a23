package io.doppel.itests.tools;

/**
 * The connection ended before a request was answered, so the request may or may not have taken
 * effect. Deliberately not an {@link NbdException}: the server never said no.
 */
public class NbdConnectionLostException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public NbdConnectionLostException(String message, Throwable cause) {
        super(message, cause);
    }
}
