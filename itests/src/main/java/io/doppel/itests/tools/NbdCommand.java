package io.doppel.itests.tools;

/** The NBD request types this client sends, with their protocol numbers. */
public enum NbdCommand {
    READ(0),
    WRITE(1),
    DISC(2),
    FLUSH(3),
    TRIM(4),
    WRITE_ZEROES(6);

    private final int code;

    NbdCommand(int code) {
        this.code = code;
    }

    /** The request type on the wire. */
    public int code() {
        return code;
    }
}
