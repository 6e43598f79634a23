package io.doppel.itests.scenario;

import io.doppel.itests.harness.Appliance;
import io.doppel.itests.tools.CheckResult;
import io.doppel.itests.tools.History;
import io.doppel.itests.tools.NbdClient;
import io.doppel.itests.tools.OracleWorkload;
import io.doppel.itests.tools.ReplicaImage;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The oracle workload on a site's volumes, each through its own NBD connection, for the
 * multi-site scenarios; and reading, zeroing and checking the volumes it writes.
 */
final class OracleRun implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(OracleRun.class);
    static final long BLOCK = 4096;

    private final List<NbdClient> clients;
    private final OracleWorkload workload;
    private final Path work;
    private History history;

    private OracleRun(List<NbdClient> clients, OracleWorkload workload, Path work) {
        this.clients = clients;
        this.workload = workload;
        this.work = work;
    }

    /**
     * Starts the workload on {@code volumes} of {@code site}: {@code blocks} blocks of each, up
     * to 8 blocks a write, 5% FUA, 2% FLUSH; {@code writes} caps the run (null: until stopped).
     * Histories are saved under {@code work}.
     */
    static OracleRun start(Appliance site, List<String> volumes, long blocks, int queueDepth, long seed, Integer writes,
                           Path work) {
        return start(site, volumes, blocks, queueDepth, seed, writes, work, null);
    }

    /**
     * {@link #start(Appliance, List, long, int, long, Integer, Path)}; with {@code failoverTo}, a
     * volume whose write is refused (the site gave its primary role up) reconnects to that site
     * and its writes go on there.
     */
    static OracleRun start(Appliance site, List<String> volumes, long blocks, int queueDepth, long seed, Integer writes,
                           Path work, Appliance failoverTo) {
        List<NbdClient> clients = new java.util.concurrent.CopyOnWriteArrayList<>();
        OracleWorkload.Builder builder = OracleWorkload.builder(seed).blocks(blocks).queueDepth(queueDepth)
                .maxWriteBlocks(8).fuaPercent(5).flushPercent(2);
        for (String v : volumes) {
            NbdClient client = NbdClient.connect(Appliance.HOST, site.nbdPort(), v);
            clients.add(client);
            builder.volume(v, client);
        }
        if (writes != null) {
            builder.maxWrites(writes);
        }
        if (failoverTo != null) {
            builder.failover(v -> {
                NbdClient client = NbdClient.connect(Appliance.HOST, failoverTo.nbdPort(), v);
                clients.add(client);
                return client;
            });
        }
        return new OracleRun(clients, builder.build().start(), work);
    }

    /** Writes acknowledged by {@code site} (through the clients connected to its NBD port). */
    long acknowledgedAt(Appliance site) {
        return clients.stream().filter(c -> c.address().getPort() == site.nbdPort())
                .mapToLong(workload::acknowledgedVia).sum();
    }

    /** Volumes that moved to the failover site after a refusal. */
    long switches() {
        return workload.switches();
    }

    long acknowledged() {
        return workload.acknowledged();
    }

    long tick() {
        return workload.tick();
    }

    History awaitEnd() {
        history = workload.awaitEnd(Duration.ofMinutes(2));
        history.save(work.resolve("history-" + workload.runId() + ".json"));
        return history;
    }

    History stop() {
        history = workload.stop();
        LOG.info("Oracle run: {} writes acknowledged, {} failed, {} unknown", history.acknowledged(), history.failed(),
                history.unknown());
        history.save(work.resolve("history-" + workload.runId() + ".json"));
        return history;
    }

    @Override
    public void close() {
        if (history == null) {
            stop();
        }
        for (NbdClient client : clients) {
            client.abort();
        }
    }

    // ---- the volumes it writes ----------------------------------------------------------------

    /** The volumes of {@code site}, read through its exports. */
    static Map<String, ReplicaImage> images(Appliance site, List<String> volumes, History history) {
        Map<String, ReplicaImage> images = new LinkedHashMap<>();
        for (String v : volumes) {
            try (NbdClient client = NbdClient.connect(Appliance.HOST, site.nbdPort(), v)) {
                images.put(v, ReplicaImage.read(history, v, client));
            }
        }
        return images;
    }

    /** The volumes of {@code site}'s snapshot {@code snapshot}, each exported as VOLUME-SNAPSHOT and read. */
    static Map<String, ReplicaImage> snapshotImages(Appliance site, List<String> volumes, String snapshot, History history) {
        Map<String, ReplicaImage> images = new LinkedHashMap<>();
        for (String v : volumes) {
            String export = v + "-" + snapshot;
            site.execOk("doppel:export-add --volume " + v + " --snapshot " + snapshot + " " + export);
            try (NbdClient client = NbdClient.connect(Appliance.HOST, site.nbdPort(), export)) {
                images.put(v, ReplicaImage.read(history, v, client));
            }
        }
        return images;
    }

    /** Zeroes {@code blocks} blocks of each volume on {@code site} and flushes: a new history never meets an old one's blocks. */
    static void zero(Appliance site, List<String> volumes, long blocks) throws Exception {
        for (String v : volumes) {
            try (NbdClient client = NbdClient.connect(Appliance.HOST, site.nbdPort(), v)) {
                client.writeZeroes(0, blocks * BLOCK).get(1, TimeUnit.MINUTES);
                client.flush().get(1, TimeUnit.MINUTES);
            }
        }
    }

    /** Logs a check's result and fails the test if it did not pass. */
    static void ok(CheckResult result) {
        LOG.info("{}", result.describe());
        result.requireOk();
    }
}
