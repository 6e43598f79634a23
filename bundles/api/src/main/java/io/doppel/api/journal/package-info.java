@Version("1.0.0")
package io.doppel.api.journal;

import org.osgi.annotation.versioning.Version;
