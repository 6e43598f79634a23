package io.doppel.itests.tools;

import java.util.Map;

/**
 * An NBD server refused the handshake, answered a request with an error, or broke the protocol.
 * An error reply carries the server's errno; the other cases have errno 0.
 */
public class NbdException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private static final Map<Integer, String> ERRNO_NAMES = Map.of(1, "EPERM", 5, "EIO", 12, "ENOMEM", 22, "EINVAL",
            28, "ENOSPC", 75, "EOVERFLOW", 95, "ENOTSUP", 108, "ESHUTDOWN");

    private final int errno;

    public NbdException(String message) {
        this(message, 0, null);
    }

    public NbdException(String message, Throwable cause) {
        this(message, 0, cause);
    }

    private NbdException(String message, int errno, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    /** The server answered a request with {@code errno}. */
    static NbdException errorReply(NbdCommand command, long offset, long length, int errno) {
        return new NbdException(command + " offset " + offset + " length " + length + ": server replied "
                + errnoName(errno) + " (" + errno + ")", errno, null);
    }

    /** The errno of an error reply; 0 for a refused handshake or a protocol violation. */
    public int errno() {
        return errno;
    }

    /** Whether the server answered a request with an error (rather than refusing the handshake). */
    public boolean isErrorReply() {
        return errno != 0;
    }

    /** The errno's name as the NBD protocol defines it, e.g. {@code ENOSPC}. */
    public String errnoName() {
        return errnoName(errno);
    }

    static String errnoName(int errno) {
        return ERRNO_NAMES.getOrDefault(errno, "errno " + errno);
    }
}
