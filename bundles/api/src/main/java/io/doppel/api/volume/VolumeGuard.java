package io.doppel.api.volume;

import java.util.Optional;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Whiteboard service: a capability that uses volumes (an NBD export, a pair) registers one
 * so that the volume service can refuse to delete what is still in use, with the reason.
 */
@ConsumerType
public interface VolumeGuard {

    /** Why {@code volume} must not be deleted now, e.g. "exported as nbd://…/vol0"; empty if it may. */
    Optional<String> vetoDelete(String volume);

    /** Why the snapshot must not be deleted now; empty if it may. */
    default Optional<String> vetoDeleteSnapshot(String volume, String snapshot) {
        return Optional.empty();
    }
}
