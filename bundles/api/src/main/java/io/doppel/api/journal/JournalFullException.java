package io.doppel.api.journal;

import java.io.IOException;

/** An append found no space even after reclaiming; the host's write fails with ENOSPC. */
public class JournalFullException extends IOException {
    private static final long serialVersionUID = 1L;

    public JournalFullException(String message) {
        super(message);
    }

    public JournalFullException(String message, Throwable cause) {
        super(message, cause);
    }
}
