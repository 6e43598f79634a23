@Version("1.0.0")
package io.doppel.api.storage;

import org.osgi.annotation.versioning.Version;
