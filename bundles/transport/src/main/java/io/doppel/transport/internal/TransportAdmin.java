package io.doppel.transport.internal;

import io.doppel.api.transport.Transport;

/** What the commands need beyond {@link Transport}. */
public interface TransportAdmin extends Transport {

    LocalSite localSite();
}
