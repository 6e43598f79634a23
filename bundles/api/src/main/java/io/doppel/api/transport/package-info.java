/**
 * Site-to-site links: mutually authenticated TLS 1.3 between appliances whose certificate
 * fingerprints the operator pinned, carrying typed, CRC-checked frames. What the frames
 * mean (replication records, acknowledgements, pulls) is up to the services that send and
 * handle them; the transport only authenticates, frames, orders and delivers them.
 */
@Version("1.1.0")
package io.doppel.api.transport;

import org.osgi.annotation.versioning.Version;
