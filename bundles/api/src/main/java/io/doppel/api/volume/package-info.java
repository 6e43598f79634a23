@Version("1.0.0")
package io.doppel.api.volume;

import org.osgi.annotation.versioning.Version;
