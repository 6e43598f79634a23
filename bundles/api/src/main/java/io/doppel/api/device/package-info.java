@Version("1.0.0")
package io.doppel.api.device;

import org.osgi.annotation.versioning.Version;
