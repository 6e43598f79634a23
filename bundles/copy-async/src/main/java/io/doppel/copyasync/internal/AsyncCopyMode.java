package io.doppel.copyasync.internal;

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
 * its own load. The interval is fixed here (the adaptive controller replaces {@link #planPull}).
 */
@Component(service = CopyMode.class, property = CopyMode.NAME + "=async", configurationPid = "io.doppel.copy.async")
@Designate(ocd = AsyncCopyMode.Config.class)
public final class AsyncCopyMode implements CopyMode {

    private static final Logger LOG = LoggerFactory.getLogger(AsyncCopyMode.class);

    @ObjectClassDefinition(name = "Doppel asynchronous copy")
    @interface Config {
        @AttributeDefinition(description = "Milliseconds between pulls when the last pull emptied the primary's backlog")
        long pullIntervalMillis() default 20;

        @AttributeDefinition(description = "Most record bytes per pull")
        long pullBytes() default 4L << 20;

        @AttributeDefinition(description = "Load (0 to 1) above which the secondary applies records slowly")
        double busyLoad() default 0.9;
    }

    /** Records applied per round when the secondary is busy, and when it is not. */
    static final int BUSY_BATCH = 16;
    static final int IDLE_BATCH = 2048;

    private volatile long interval = 20;
    private volatile long pullBytes = 4L << 20;
    private volatile double busyLoad = 0.9;

    @Activate
    @Modified
    void configure(Config c) {
        interval = checked("pullIntervalMillis", c.pullIntervalMillis(), 1, 60_000, interval);
        pullBytes = checked("pullBytes", c.pullBytes(), 64 << 10, 256L << 20, pullBytes);
        if (c.busyLoad() > 0 && c.busyLoad() <= 1) {
            busyLoad = c.busyLoad();
        } else {
            LOG.error("Configuration io.doppel.copy.async: busyLoad = {} must be above 0 and at most 1; keeping {}",
                    c.busyLoad(), busyLoad);
        }
    }

    private static long checked(String key, long v, long min, long max, long previous) {
        if (v < min || v > max) {
            LOG.error("Configuration io.doppel.copy.async: {} = {} must be between {} and {}; keeping {}", key, v, min,
                    max, previous);
            return previous;
        }
        return v;
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
        if (last.moreAvailable()) {
            return new PullPlan(0, pullBytes, "the primary holds more records");
        }
        return new PullPlan(interval, pullBytes, "fixed interval");
    }

    @Override
    public int applyBudget(ApplyObservation now) {
        return now.load() >= busyLoad ? BUSY_BATCH : IDLE_BATCH;
    }
}
