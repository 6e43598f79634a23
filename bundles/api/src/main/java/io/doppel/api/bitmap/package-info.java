/** Difference maps: per pair and volume, the blocks a peer may lack, persisted with the position they cover. */
@Version("1.0.0")
package io.doppel.api.bitmap;

import org.osgi.annotation.versioning.Version;
