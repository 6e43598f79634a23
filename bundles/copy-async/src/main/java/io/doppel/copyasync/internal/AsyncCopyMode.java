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
 * its own load. The interval is fixed here (the adaptive controller replaces {@link #planPull}).
 */
@Component(service = CopyMode.class, property = CopyMode.NAME + "=async", configurationPid = AsyncSettings.PID)
@Designate(ocd = AsyncCopyMode.Config.class)
public final class AsyncCopyMode implements CopyMode {

    private static final Logger LOG = LoggerFactory.getLogger(AsyncCopyMode.class);

    @ObjectClassDefinition(name = "Doppel asynchronous copy")
    @interface Config {
        @AttributeDefinition(description = "Milliseconds between pulls when the last pull emptied the primary's backlog (1 to 60000)")
        long pullIntervalMillis() default 20;

        @AttributeDefinition(description = "Most record bytes per pull (65536 to 268435456)")
        long pullBytes() default 4L << 20;

        @AttributeDefinition(description = "Load (above 0, at most 1) from which the secondary applies records slowly")
        double busyLoad() default 0.9;
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
    void configure(Config c) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(c::pullIntervalMillis, c::pullBytes, c::busyLoad, settings);
        for (String e : o.errors()) {
            LOG.error("{}", e);
        }
        settings = o.settings();
        LOG.info("Asynchronous copy: pulls every {} ms while the primary has no more records, at most {} bytes each; "
                + "applies small batches from load {}", o.settings().pullIntervalMillis(), o.settings().pullBytes(), o.settings().busyLoad());
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
        AsyncSettings s = settings;
        if (last.moreAvailable()) {
            return new PullPlan(0, s.pullBytes(), "the primary holds more records");
        }
        return new PullPlan(s.pullIntervalMillis(), s.pullBytes(), "fixed interval");
    }

    @Override
    public int applyBudget(ApplyObservation now) {
        return now.load() >= settings.busyLoad() ? BUSY_BATCH : IDLE_BATCH;
    }
}
