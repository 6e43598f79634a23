@Version("1.0.0")
package io.doppel.api.units;

import org.osgi.annotation.versioning.Version;
