/** Copy modes: pluggable strategies deciding when a replicated write is complete and how records move. */
@Version("1.3.0")
package io.doppel.api.copy;

import org.osgi.annotation.versioning.Version;
