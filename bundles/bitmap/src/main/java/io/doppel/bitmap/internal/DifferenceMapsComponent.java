package io.doppel.bitmap.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.bitmap.DifferenceMaps;
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
 * The difference map service: a thin DS wrapper around {@link DifferenceMapStore}. Maps hold
 * their changes in memory until their owner persists them; deactivation keeps what was
 * persisted and stops the maps handed out from writing again.
 */
@Component(service = DifferenceMaps.class, configurationPid = DifferenceMapsComponent.PID)
@Designate(ocd = DifferenceMapsComponent.Config.class)
public final class DifferenceMapsComponent implements DifferenceMaps {

    public static final String PID = "io.doppel.bitmap";
    static final String DEFAULT_DIRECTORY = "${karaf.base}/doppel/maps";

    private static final Logger LOG = LoggerFactory.getLogger(DifferenceMapsComponent.class);

    @ObjectClassDefinition(name = "Doppel difference maps", description = "Per pair, the blocks of each volume that the peer may lack")
    public @interface Config {
        @AttributeDefinition(name = "Directory", description = "Where the maps live, one <pairId>.map file per pair; ${karaf.base} "
                + "and other ${property} references are replaced by system properties")
        String directory() default DEFAULT_DIRECTORY;
    }

    private final DifferenceMapStore store;

    @Activate
    public DifferenceMapsComponent(@Reference(name = "storage") Storage storage, Config config) {
        Path dir = apply(config, BitmapConfig.defaultDirectory());
        this.store = new DifferenceMapStore(storage, dir);
        LOG.info("Difference map service started: directory {}", dir);
    }

    @Modified
    void modified(Config config) {
        synchronized (store) {
            Path previous = store.directory();
            Path next = apply(config, previous);
            if (!next.equals(previous)) {
                store.reconfigure(next);
                LOG.info("Difference map directory is now {} (maps already open keep their file in {})", next, previous);
            }
        }
    }

    private static Path apply(Config config, Path previous) {
        BitmapConfig.Outcome o = BitmapConfig.resolve(config.directory(), previous);
        for (String e : o.errors()) {
            LOG.error("{}", e);
        }
        return o.directory();
    }

    @Deactivate
    void deactivate() {
        store.close();
    }

    @Override
    public DifferenceMap open(String pairId) throws IOException {
        return store.open(pairId);
    }

    @Override
    public void delete(String pairId) throws IOException {
        store.delete(pairId);
    }

    @Override
    public List<String> list() throws IOException {
        return store.list();
    }
}
