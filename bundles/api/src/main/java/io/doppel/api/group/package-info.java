@Version("1.1.0")
package io.doppel.api.group;

import org.osgi.annotation.versioning.Version;
