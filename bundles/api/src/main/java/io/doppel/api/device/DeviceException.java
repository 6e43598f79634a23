package io.doppel.api.device;

import java.io.IOException;
import java.util.Objects;

/** A failed block-device request, with the error the host is told and a message for the log. */
public class DeviceException extends IOException {
    private static final long serialVersionUID = 1L;

    private final IoError error;

    public DeviceException(IoError error, String message) {
        super(message);
        this.error = Objects.requireNonNull(error);
    }

    public DeviceException(IoError error, String message, Throwable cause) {
        super(message, cause);
        this.error = Objects.requireNonNull(error);
    }

    public IoError error() {
        return error;
    }
}
