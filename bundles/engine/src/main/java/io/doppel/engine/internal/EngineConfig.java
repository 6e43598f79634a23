package io.doppel.engine.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

@ObjectClassDefinition(name = "Doppel engine", description = "Groups, the write path and first-start defaults")
@interface EngineConfig {

    @AttributeDefinition(description = "Data home: site identity and group registry")
    String home() default "${karaf.base}/doppel";

    @AttributeDefinition(description = "Milliseconds I/O waits while the volume or journal service is absent "
            + "(for instance during a bundle update) before it fails with EIO")
    long ioHoldTimeoutMillis() default 30_000;

    @AttributeDefinition(description = "Milliseconds a host write waits for a pair's copy mode while none is bound "
            + "(during an update of its bundle) before the pair's lost-peer policy applies")
    long copyModeHoldMillis() default 5_000;

    @AttributeDefinition(description = "Milliseconds a restarted primary holds host writes until each peer answered "
            + "whether this site still rules the pair (a peer may have taken it over meanwhile); then writes go on")
    long reignCheckMillis() default 10_000;

    @AttributeDefinition(description = "Milliseconds between checkpoints (volumes forced, journal released)")
    long checkpointIntervalMillis() default 5_000;

    @AttributeDefinition(description = "Group created on first start; empty for none")
    String firstGroup() default "default";

    @AttributeDefinition(description = "Volume created (and exported by the NBD server) on first start; empty for none")
    String firstVolume() default "vol0";

    @AttributeDefinition(description = "Size of the first-start volume, e.g. 1G")
    String firstVolumeSize() default "1G";
}
