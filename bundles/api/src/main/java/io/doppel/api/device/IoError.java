package io.doppel.api.device;

/** Errors a block device reports to hosts; the numbers are the NBD protocol's errno values. */
public enum IoError {
    EPERM(1),
    EIO(5),
    ENOMEM(12),
    EINVAL(22),
    ENOSPC(28),
    EOVERFLOW(75),
    ENOTSUP(95),
    ESHUTDOWN(108);

    private final int errno;

    IoError(int errno) {
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
