package io.doppel.copyasync.internal;

import java.util.Objects;

import io.doppel.api.copy.ApplyObservation;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asynchronous copy through the journal: host writes complete locally; the secondary pulls
 * records after its position at an interval, and applies them to its volumes at a pace set by
 * its own load. {@link PullController} sets the interval and size of each pull.
 */
@Component(service = CopyMode.class, property = CopyMode.NAME + "=async", configurationPid = AsyncSettings.PID)
@Designate(ocd = AsyncCopyMode.Config.class)
public final class AsyncCopyMode implements CopyMode {

    private static final Logger LOG = LoggerFactory.getLogger(AsyncCopyMode.class);

    @ObjectClassDefinition(name = "Doppel asynchronous copy")
    public @interface Config {
        @AttributeDefinition(description = "Shortest wait between pulls, in milliseconds (1 to 60000)")
        long minIntervalMillis() default 1;

        @AttributeDefinition(description = "Longest wait between pulls, in milliseconds (minIntervalMillis to 60000)")
        long maxIntervalMillis() default 1000;

        @AttributeDefinition(description = "Most record bytes per pull (65536 to 268435456)")
        long pullBytes() default 4L << 20;

        @AttributeDefinition(description = "Load of the secondary apart from replication (above 0, at most 1) above which it "
                + "pulls less often and applies records slowly; 1 turns this off")
        double busyLoad() default 0.9;

        @AttributeDefinition(description = "Load of the primary (above 0, at most 1) from which it counts as saturated")
        double primaryBusyLoad() default 0.9;

        @AttributeDefinition(description = "Wait longer between pulls while the primary is saturated by host writes and its "
                + "journal has room for the burst (off by default: the copy falls behind for the burst's length)")
        boolean yieldToBusyPrimary() default false;

        @AttributeDefinition(description = "The link's capacity in bytes per second, both directions; 0 when not known")
        long linkBytesPerSecond() default 0;
    }

    /** Records applied per round when the secondary is busy, and when it is not; never 0, so applying always goes on. */
    static final int BUSY_BATCH = 16;
    static final int IDLE_BATCH = 2048;

    private volatile AsyncSettings settings;

    public AsyncCopyMode() {
        this(AsyncSettings.DEFAULTS);
    }

    AsyncCopyMode(AsyncSettings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Activate
    @Modified
    public void configure(Config c) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(c, settings);
        for (String e : o.errors()) {
            LOG.error("{}", e);
        }
        settings = o.settings();
        AsyncSettings s = o.settings();
        LOG.info("Asynchronous copy: pulls every {} to {} ms, at most {} bytes each; busy above load {}, primary saturated from "
                + "load {} (yield: {}); link capacity {} B/s", s.minIntervalMillis(), s.maxIntervalMillis(), s.pullBytes(),
                s.busyLoad(), s.primaryBusyLoad(), s.yieldToBusyPrimary(), s.linkBytesPerSecond() == 0 ? "not known" : s.linkBytesPerSecond());
    }

    AsyncSettings settings() {
        return settings;
    }

    @Override
    public String name() {
        return "async";
    }

    @Override
    public Transfer transfer() {
        return Transfer.PULL;
    }

    @Override
    public boolean waitsForPeer() {
        return false;
    }

    @Override
    public PullPlan planPull(PullObservation last) {
        return PullController.plan(settings, last);
    }

    @Override
    public int applyBudget(ApplyObservation now) {
        return now.load() > settings.busyLoad() ? BUSY_BATCH : IDLE_BATCH;
    }
}
