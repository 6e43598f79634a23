@Version("1.0.0")
package io.doppel.api.site;

import org.osgi.annotation.versioning.Version;
