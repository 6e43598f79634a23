package io.doppel.api.journal;

import java.io.IOException;

/** A read asked for records older than the journal keeps; the reader must resync from a map. */
public class JournalGapException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Position requested;
    private final transient Position retainedStart;

    public JournalGapException(Position requested, Position retainedStart) {
        super("records after " + requested + " are no longer in the journal; it starts at " + retainedStart);
        this.requested = requested;
        this.retainedStart = retainedStart;
    }

    public Position requested() {
        return requested;
    }

    public Position retainedStart() {
        return retainedStart;
    }
}
