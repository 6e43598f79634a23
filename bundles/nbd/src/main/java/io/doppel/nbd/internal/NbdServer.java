package io.doppel.nbd.internal;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.doppel.api.device.DeviceProvider;
import io.doppel.api.storage.Storage;
import io.doppel.api.volume.VolumeGuard;

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
 * The NBD server component: runs an {@link NbdService} with the configuration of PID
 * {@code io.doppel.nbd}, offers it to the commands and vetoes deleting exported volumes.
 *
 * <p>Updating this bundle deactivates the component: every NBD connection is dropped and
 * clients reconnect to the new one. What they wrote is already in the engine.
 */
@Component(service = {NbdAdmin.class, VolumeGuard.class}, configurationPid = NbdConfig.PID, immediate = true)
@Designate(ocd = NbdServer.Config.class)
public final class NbdServer implements NbdAdmin, VolumeGuard {

    private static final Logger LOG = LoggerFactory.getLogger(NbdServer.class);

    @ObjectClassDefinition(name = "Doppel NBD server",
            description = "Serves volumes and snapshots to hosts over NBD (fixed newstyle).")
    public @interface Config {
        @AttributeDefinition(description = "Address to listen on; the loopback default keeps NBD local to this machine")
        String address() default "127.0.0.1";

        @AttributeDefinition(description = "TCP port (10809 is NBD's registered port)", min = "0", max = "65535")
        int port() default 10809;

        @AttributeDefinition(description = "Threads that run block-device requests", min = "1", max = "1024")
        int workerThreads() default 16;

        @AttributeDefinition(description = "Requests a connection may have in flight before the server stops"
                + " reading from it", min = "1", max = "65536")
        int maxInFlightRequests() default 128;

        @AttributeDefinition(description = "The export registry file")
        String exportsFile() default "${karaf.base}/doppel/nbd/exports";

        @AttributeDefinition(description = "Export created on first start (serving the volume of the same name)"
                + " and served to clients that ask for the empty name; empty for none")
        String defaultExport() default "vol0";
    }

    private final DeviceProvider devices;
    private final Storage storage;
    private NbdConfig config;
    private volatile NbdService service;

    @Activate
    public NbdServer(@Reference(name = "devices") DeviceProvider devices,
            @Reference(name = "storage") Storage storage, Map<String, Object> properties) throws IOException {
        this.devices = devices;
        this.storage = storage;
        this.config = NbdConfig.from(properties, null);
        this.service = start(config);
    }

    @Modified
    void modified(Map<String, Object> properties) throws IOException {
        NbdConfig next = NbdConfig.from(properties, config);
        if (next.equals(config)) {
            return;
        }
        LOG.info("NBD configuration changed: restarting the server, open connections are dropped");
        NbdService old = service;
        service = null;
        if (old != null) {
            old.close();
        }
        config = next;
        service = start(next);
    }

    @Deactivate
    void deactivate() {
        NbdService s = service;
        service = null;
        if (s != null) {
            s.close();
        }
    }

    private NbdService start(NbdConfig c) throws IOException {
        NbdService s = new NbdService(c, storage, devices);
        try {
            s.start();
        } catch (IOException | RuntimeException e) {
            LOG.error("Cannot start the NBD server: {}", e.getMessage(), e);
            s.close();
            throw e;
        }
        return s;
    }

    private NbdService running() {
        NbdService s = service;
        if (s == null) {
            throw new IllegalStateException("the NBD server is not running (see the log)");
        }
        return s;
    }

    @Override
    public List<ExportStatus> exports() {
        return running().exports();
    }

    @Override
    public ExportStatus addExport(Export export) throws IOException {
        return running().addExport(export);
    }

    @Override
    public int removeExport(String name, boolean force) throws IOException {
        return running().removeExport(name, force);
    }

    @Override
    public NbdStatus status() {
        return running().status();
    }

    @Override
    public Optional<String> vetoDelete(String volume) {
        NbdService s = service;
        return s == null ? Optional.empty() : s.vetoDelete(volume);
    }

    @Override
    public Optional<String> vetoDeleteSnapshot(String volume, String snapshot) {
        NbdService s = service;
        return s == null ? Optional.empty() : s.vetoDeleteSnapshot(volume, snapshot);
    }
}
