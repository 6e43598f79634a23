@Version("1.1.0")
package io.doppel.api.journal;

import org.osgi.annotation.versioning.Version;
