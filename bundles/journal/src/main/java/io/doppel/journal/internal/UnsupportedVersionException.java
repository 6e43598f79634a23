package io.doppel.journal.internal;

import java.io.IOException;

/** A journal file written in a format version this bundle does not read. */
final class UnsupportedVersionException extends IOException {
    private static final long serialVersionUID = 1L;

    UnsupportedVersionException(String message) {
        super(message);
    }
}
