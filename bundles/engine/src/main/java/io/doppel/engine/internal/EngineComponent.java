package io.doppel.engine.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.bitmap.DifferenceMaps;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.device.BlockDevice;
import io.doppel.api.device.DeviceProvider;
import io.doppel.api.failover.FailoverPolicy;
import io.doppel.api.failover.FailoverService;
import io.doppel.api.failover.FailoverStatus;
import io.doppel.api.group.GroupInfo;
import io.doppel.api.group.GroupService;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.Position;
import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;
import io.doppel.api.site.SiteIdentity;
import io.doppel.api.storage.Storage;
import io.doppel.api.transport.Frame;
import io.doppel.api.transport.FrameHandler;
import io.doppel.api.transport.PeerInfo;
import io.doppel.api.transport.PeerListener;
import io.doppel.api.transport.Transport;
import io.doppel.api.volume.SnapshotInfo;
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
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine as a DS component. The volume and journal services are dynamic, greedy and
 * optional: when one goes away (a bundle update) the engine holds I/O instead of
 * deactivating, and resumes when the replacement arrives.
 */
@Component(service = {DeviceProvider.class, GroupService.class, SiteIdentity.class, EngineStatus.class,
        PairService.class, FrameHandler.class, PeerListener.class, FailoverService.class},
        immediate = true, configurationPid = "io.doppel.engine",
        property = FrameHandler.TYPES + "=" + Wire.TYPE_LIST)
@Designate(ocd = EngineConfig.class)
public final class EngineComponent implements DeviceProvider, GroupService, SiteIdentity, EngineStatus, PairService,
        FailoverService,
        FrameHandler, PeerListener {

    private static final Logger LOG = LoggerFactory.getLogger(EngineComponent.class);

    private final ScheduledExecutorService executor;
    private final Engine engine;
    private volatile VolumeService volumes;
    private volatile JournalService journals;
    private volatile List<String> configProblems;
    private volatile EngineSettings currentSettings;

    @Activate
    public EngineComponent(@Reference Storage storage, Map<String, Object> properties) throws IOException {
        SettingsParser parser = new SettingsParser();
        EngineSettings defaults = EngineSettings.defaults(
                Path.of(SettingsParser.resolveKarafBase("${karaf.base}/doppel")).toAbsolutePath().normalize());
        EngineSettings settings = parser.parse(properties, defaults);
        report(parser.problems());
        AtomicInteger n = new AtomicInteger();
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "doppel-engine-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.executor = Executors.newScheduledThreadPool(2, tf);
        this.currentSettings = settings;
        // Dynamic references are bound after construction, straight into the engine.
        this.engine = new Engine(storage, settings, executor);
        this.replication = engine.replication(new PairStore(storage, settings.home()));
    }

    private final Replication replication;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "transport", unbind = "unbindTransport")
    void bindTransport(Transport t) {
        transport = t;
        replication.transport(t);
    }

    void unbindTransport(Transport t) {
        if (transport == t) {
            transport = null;
            replication.transport(null);
        }
    }

    private volatile Transport transport;
    private volatile DifferenceMaps maps;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "maps", unbind = "unbindMaps")
    void bindMaps(DifferenceMaps m) {
        maps = m;
        replication.maps(m);
    }

    void unbindMaps(DifferenceMaps m) {
        if (maps == m) {
            maps = null;
            replication.maps(null);
        }
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "modes", unbind = "unbindMode")
    void bindMode(CopyMode m, org.osgi.framework.ServiceReference<CopyMode> ref) {
        org.osgi.framework.Bundle b = ref.getBundle();
        replication.modeAdded(m, b == null ? "" : b.getSymbolicName(), b == null ? "" : b.getVersion().toString());
    }

    void unbindMode(CopyMode m) {
        replication.modeRemoved(m);
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "policies", unbind = "unbindPolicy")
    void bindPolicy(FailoverPolicy p) {
        replication.policyAdded(p);
    }

    void unbindPolicy(FailoverPolicy p) {
        replication.policyRemoved(p);
    }

    // ---- failover -------------------------------------------------------------------------------

    @Override
    public FailoverStatus takeover(String group, boolean force) throws IOException {
        replication.takeover(group, force);
        return replication.failoverStatus().stream().filter(s -> s.group().equals(group)).findFirst()
                .orElseThrow(() -> new IllegalStateException("group " + group + " has no pair after its takeover"));
    }

    @Override
    public FailoverStatus failback(String group) throws IOException, InterruptedException {
        replication.failback(group);
        return replication.failoverStatus().stream().filter(s -> s.group().equals(group)).findFirst()
                .orElseThrow(() -> new IllegalStateException("group " + group + " has no pair after its failback"));
    }

    @Override
    public FailoverStatus resolve(String group, String keepSite) throws IOException {
        replication.resolve(group, keepSite);
        return replication.failoverStatus().stream().filter(s -> s.group().equals(group)).findFirst()
                .orElseThrow(() -> new IllegalStateException("group " + group + " has no pair"));
    }

    @Override
    public java.util.List<FailoverStatus> failoverStatus() {
        return replication.failoverStatus();
    }

    // ---- pairs ---------------------------------------------------------------------------------

    @Override
    public PairInfo create(String group, String peer, String mode, String lostPeerPolicy) throws IOException {
        return replication.create(group, peer, mode, lostPeerPolicy);
    }

    @Override
    public void suspend(String group, String peer) throws IOException {
        replication.suspend(group, peer);
    }

    @Override
    public void resume(String group, String peer) throws IOException {
        replication.resume(group, peer);
    }

    @Override
    public java.util.List<io.doppel.api.copy.CopyModeInfo> copyModes() {
        return replication.copyModes();
    }

    @Override
    public PairInfo changeMode(String group, String peer, String mode) throws IOException {
        return replication.changeMode(group, peer, mode);
    }

    @Override
    public void delete(String group, String peer) throws IOException {
        replication.delete(group, peer);
    }

    @Override
    public void deleteTarget(String group, String peer) throws IOException {
        replication.deleteTarget(group, peer);
    }

    @Override
    public List<PairInfo> pairs() {
        return replication.pairs();
    }

    @Override
    public Optional<PairInfo> pair(String group, String peer) {
        return replication.pair(group, peer);
    }

    @Override
    public CompletionStage<Frame> handle(String peer, Frame frame) {
        return replication.handle(peer, frame);
    }

    @Override
    public void linkChanged(PeerInfo peer) {
        replication.linkChanged(peer);
    }

    private void report(List<String> problems) {
        this.configProblems = List.copyOf(problems);
        for (String p : problems) {
            LOG.error("Configuration io.doppel.engine: {}", p);
        }
    }

    @Modified
    void modified(Map<String, Object> properties) {
        SettingsParser parser = new SettingsParser();
        EngineSettings previous = currentSettings;
        EngineSettings next = parser.parse(properties, previous);
        if (!next.home().equals(previous.home())) {
            parser.problems().add("home: a new home (" + next.home() + ") takes effect only after a restart; keeping "
                    + previous.home());
            next = new EngineSettings(previous.home(), next.ioHoldTimeoutMillis(), next.checkpointIntervalMillis(),
                    next.firstGroup(), next.firstVolume(), next.firstVolumeSize(), next.copyModeHoldMillis(),
                    next.reignCheckMillis());
        }
        report(parser.problems());
        currentSettings = next;
        engine.settings(next);
    }


    @Deactivate
    void deactivate() {
        engine.close();
        executor.shutdown();
        try {
            if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "volumes", unbind = "unbindVolumes")
    void bindVolumes(VolumeService vs) {
        volumes = vs;
        engine.volumeService(vs);
    }

    void unbindVolumes(VolumeService vs) {
        if (volumes == vs) {
            volumes = null;
            engine.volumeService(null);
        }
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, name = "journals", unbind = "unbindJournals")
    void bindJournals(JournalService js) {
        journals = js;
        engine.journalService(js);
    }

    void unbindJournals(JournalService js) {
        if (journals == js) {
            journals = null;
            engine.journalService(null);
        }
    }

    // ---- delegation ------------------------------------------------------------------------

    @Override
    public BlockDevice open(String volume, boolean readOnly) throws IOException {
        return engine.open(volume, readOnly);
    }

    @Override
    public BlockDevice openSnapshot(String volume, String snapshot) throws IOException {
        return engine.openSnapshot(volume, snapshot);
    }

    @Override
    public GroupInfo createGroup(String name, long journalCapacity) throws IOException {
        return engine.createGroup(name, journalCapacity);
    }

    @Override
    public GroupInfo createGroup(String name, long journalCapacity, boolean journalOnly) throws IOException {
        return engine.createGroup(name, journalCapacity, journalOnly);
    }

    @Override
    public List<GroupInfo> groups() {
        return engine.groups();
    }

    @Override
    public Optional<GroupInfo> group(String name) {
        return engine.group(name);
    }

    @Override
    public void deleteGroup(String name) throws IOException {
        engine.deleteGroup(name);
    }

    @Override
    public VolumeInfo createVolume(String name, long size, String group) throws IOException {
        return engine.createVolume(name, size, group);
    }

    @Override
    public void deleteVolume(String name) throws IOException {
        engine.deleteVolume(name);
    }

    @Override
    public VolumeInfo growVolume(String name, long newSize) throws IOException {
        return engine.growVolume(name, newSize);
    }

    @Override
    public SnapshotInfo snapshot(String volume, String snapshot) throws IOException {
        return engine.snapshot(volume, snapshot);
    }

    @Override
    public List<SnapshotInfo> snapshotGroup(String group, String snapshot) throws IOException {
        return engine.snapshotGroup(group, snapshot);
    }

    @Override
    public void rollback(String volume, String snapshot) throws IOException {
        engine.rollback(volume, snapshot);
    }

    @Override
    public Position checkpoint(String group) throws IOException {
        return engine.checkpoint(group);
    }

    @Override
    public String id() {
        return engine.site().id();
    }

    @Override
    public String name() {
        return engine.site().name();
    }

    @Override
    public Path home() {
        return engine.site().home();
    }

    @Override
    public Instant created() {
        return engine.site().created();
    }

    @Override
    public Status status() {
        return engine.status(configProblems);
    }
}
