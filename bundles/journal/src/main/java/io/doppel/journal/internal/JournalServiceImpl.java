package io.doppel.journal.internal;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.storage.Storage;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The journal service: a thin DS wrapper around {@link JournalManager}. Deactivation (for
 * instance a {@code bundle:update}) closes every open journal cleanly where it can; the engine
 * opens them again from the next service.
 */
@Component(service = JournalService.class, configurationPid = JournalServiceImpl.PID)
@Designate(ocd = JournalServiceImpl.Config.class)
public final class JournalServiceImpl implements JournalService {

    public static final String PID = "io.doppel.journal";
    static final String DEFAULT_DIRECTORY = "${karaf.base}/doppel/journals";

    private static final Logger LOG = LoggerFactory.getLogger(JournalServiceImpl.class);

    @ObjectClassDefinition(name = "Doppel journal", description = "Write-ahead journals of the consistency groups")
    public @interface Config {
        @AttributeDefinition(name = "Directory", description = "Where the journals live, one folder per group; ${karaf.base} and other "
                + "${property} references are replaced by system properties")
        String directory() default DEFAULT_DIRECTORY;

        @AttributeDefinition(name = "Segment size", description = "Bytes of each preallocated segment file, e.g. 64M; at least "
                + "32 MiB + 128 bytes (the largest record and the headers)")
        String segmentBytes() default "64M";

        @AttributeDefinition(name = "Capacity", description = "Default limit on a journal's segment bytes, e.g. 1G; at least two segments")
        String capacityBytes() default "1G";

        @AttributeDefinition(name = "Activity log extents", description = "Most hot extents in a group's activity log (1 to 65536)")
        String activityLogExtents() default "1024";

        @AttributeDefinition(name = "Activity extent size", description = "Bytes per activity-log extent, a power of two, e.g. 4M")
        String activityExtentBytes() default "4M";
    }

    /** Prepares segments ahead and makes room (checkpoint, folds) for every journal: room-making can take a while. */
    private final ThreadPoolExecutor executor;
    private final JournalManager manager;
    private JournalConfig.Values values;

    @Activate
    public JournalServiceImpl(@Reference(name = "storage") Storage storage, Config config) {
        this.values = apply(config, JournalConfig.defaults());
        this.executor = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), new Threads());
        this.executor.allowCoreThreadTimeOut(true);
        this.manager = new JournalManager(storage, values.directory(), values.settings(), executor);
        LOG.info("Journal service started: directory {}, segments of {} bytes, default capacity {} bytes", values.directory(),
                values.settings().segmentBytes(), values.settings().capacityBytes());
    }

    @Modified
    void modified(Config config) {
        JournalConfig.Values next;
        synchronized (this) {
            next = apply(config, values);
            values = next;
        }
        manager.reconfigure(next.directory(), next.settings());
        LOG.info("Journal service reconfigured (applies to journals opened from now on): directory {}, segments of {} bytes, "
                + "default capacity {} bytes", next.directory(), next.settings().segmentBytes(), next.settings().capacityBytes());
    }

    private static JournalConfig.Values apply(Config c, JournalConfig.Values previous) {
        JournalConfig.Outcome o = JournalConfig.resolve(c.directory(), c.segmentBytes(), c.capacityBytes(), c.activityLogExtents(),
                c.activityExtentBytes(), previous);
        for (String e : o.errors()) {
            LOG.error("{}", e);
        }
        return o.values();
    }

    @Deactivate
    void deactivate() {
        manager.closeAll();
        executor.shutdown();
    }

    @Override
    public Journal open(JournalOptions options) throws IOException {
        return manager.open(options);
    }

    @Override
    public void delete(String group) throws IOException {
        manager.delete(group);
    }

    @Override
    public List<String> list() throws IOException {
        return manager.list();
    }

    @Override
    public List<JournalStatus> status() {
        return manager.status();
    }

    /** Names the preallocation threads. */
    private static final class Threads implements ThreadFactory {
        private final AtomicInteger n = new AtomicInteger();

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, "doppel-journal-prealloc-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        }
    }
}
