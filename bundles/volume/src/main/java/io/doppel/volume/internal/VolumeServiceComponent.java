package io.doppel.volume.internal;

import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.Optional;

import io.doppel.api.storage.Storage;
import io.doppel.api.volume.PoolDirectory;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeGuard;
import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Publishes a {@link VolumeManager} as the {@link VolumeService}. */
@Component(service = VolumeService.class, configurationPid = VolumeServiceComponent.PID)
@Designate(ocd = VolumeServiceComponent.Config.class)
public final class VolumeServiceComponent implements VolumeService {

    static final String PID = "io.doppel.volume";

    private static final Logger LOG = LoggerFactory.getLogger(VolumeServiceComponent.class);

    @ObjectClassDefinition(name = "Doppel volumes", description = "Where volumes and their snapshots live.")
    public @interface Config {

        @AttributeDefinition(name = "Pool directories", description = "Comma-separated absolute paths of the data"
                + " directories (disks) volumes are allocated from; a new volume goes to the one with the most"
                + " usable space. When missing or invalid, an error is logged and the previous value (at start:"
                + " ${karaf.base}/doppel/volumes) is kept.")
        String directories() default "";

        @AttributeDefinition(name = "Registry directory", description = "Absolute path of the directory holding"
                + " the volume registry file; empty: the first pool directory. Read when the component starts.")
        String registryDirectory() default "";
    }

    private final VolumeManager manager;
    private volatile PoolSettings settings;

    @Reference(name = "guards", service = VolumeGuard.class, cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    private volatile List<VolumeGuard> guards = List.of();

    @Activate
    public VolumeServiceComponent(@Reference(name = "storage") Storage storage, Config config) throws IOException {
        PoolSettings s = settings(config, PoolSettings.defaults());
        this.settings = s;
        try {
            this.manager = new VolumeManager(storage, s.registryDirectory(), s.directories(), () -> guards,
                    Clock.systemUTC());
        } catch (IOException | RuntimeException e) {
            LOG.error("Volume service cannot start: {}", e.getMessage(), e);
            throw e;
        }
    }

    @Modified
    void modified(Config config) {
        PoolSettings old = settings;
        PoolSettings s = settings(config, old);
        if (!s.directories().equals(old.directories())) {
            manager.setPoolDirectories(s.directories());
            LOG.info("Pool directories are now {}", s.directories());
        }
        if (!s.registryDirectory().equals(old.registryDirectory())) {
            LOG.warn("registryDirectory changed from {} to {}; the registry stays at {} until the volume bundle"
                    + " restarts", old.registryDirectory(), s.registryDirectory(), manager.registryFile());
        }
        settings = s;
    }

    @Deactivate
    void deactivate() {
        manager.close();
    }

    /** A bad or missing configuration is logged and ignored: the service keeps running with what it had. */
    private static PoolSettings settings(Config config, PoolSettings fallback) {
        try {
            return PoolSettings.parse(config.directories(), config.registryDirectory());
        } catch (IllegalArgumentException e) {
            LOG.error("Configuration {} rejected: {}; keeping directories {} and registry directory {}", PID,
                    e.getMessage(), fallback.directories(), fallback.registryDirectory());
            return fallback;
        }
    }

    @Override
    public VolumeInfo create(String name, long size, String group) throws IOException {
        return manager.create(name, size, group);
    }

    @Override
    public List<VolumeInfo> list() {
        return manager.list();
    }

    @Override
    public Optional<VolumeInfo> find(String name) {
        return manager.find(name);
    }

    @Override
    public void delete(String name) throws IOException {
        manager.delete(name);
    }

    @Override
    public Volume open(String name) throws IOException {
        return manager.open(name);
    }

    @Override
    public List<PoolDirectory> pool() throws IOException {
        return manager.pool();
    }
}
