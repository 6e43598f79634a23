package io.doppel.itests.harness;

/**
 * The harness could not do what a test asked: an appliance did not boot, a process did not finish
 * in time, a file could not be written. The message carries what a reader needs to diagnose it
 * (output, log tails, paths).
 */
public class HarnessException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public HarnessException(String message) {
        super(message);
    }

    public HarnessException(String message, Throwable cause) {
        super(message, cause);
    }
}
