package io.doppel.api.site;

import java.nio.file.Path;
import java.time.Instant;

import org.osgi.annotation.versioning.ProviderType;

/** This appliance's identity, made on first start and kept in its home directory. */
@ProviderType
public interface SiteIdentity {

    /** Stable unique id (a UUID). */
    String id();

    /** Human name, by default the host name. */
    String name();

    /** The appliance's data home: volumes, journals and metadata live under it by default. */
    Path home();

    Instant created();
}
