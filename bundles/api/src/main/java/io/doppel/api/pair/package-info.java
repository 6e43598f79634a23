/** Pairs: a group at this site kept copied at a peer site, with a copy mode. */
@Version("1.2.0")
package io.doppel.api.pair;

import org.osgi.annotation.versioning.Version;
