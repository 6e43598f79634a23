@Version("1.0.0")
package io.doppel.api.group;

import org.osgi.annotation.versioning.Version;
