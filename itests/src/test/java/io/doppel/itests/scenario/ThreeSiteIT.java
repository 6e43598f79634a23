package io.doppel.itests.scenario;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.Cluster;
import io.doppel.itests.harness.ClusterExtension;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.tools.FaultProxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * One primary, A, copying a consistency group of two volumes to B synchronously and to C
 * asynchronously at once, each link through a fault proxy. After load, B and C equal A
 * ({@code qemu-img compare}, fio's verify-only pass against the targets).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ThreeSiteIT {

    static final String GROUP = "rep";
    static final List<String> VOLUMES = List.of("r1", "r2");
    static final String SIZE = "128M";
    static final Duration PAIR_TIMEOUT = Duration.ofMinutes(2);

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    static Appliance a;
    static Appliance b;
    static Appliance c;
    static FaultProxy toB;
    static FaultProxy toC;
    static Path work;

    @BeforeAll
    static void boot() {
        Cluster cluster = clusters.create("a", "b", "c").startAll();
        a = cluster.appliance("a");
        b = cluster.appliance("b");
        c = cluster.appliance("c");
        work = Scenario.directory(cluster.workDir(), "work");
        toB = Sites.proxyTo(b);
        toC = Sites.proxyTo(c);
        Sites.connect(a, b, toB);
        Sites.connect(a, c, toC);
        a.execOk("doppel:group-create " + GROUP);
        for (String v : VOLUMES) {
            a.execOk("doppel:volume-create --group " + GROUP + " " + v + " " + SIZE);
            a.execOk("doppel:export-add " + v);
        }
    }

    @AfterAll
    static void closeProxies() {
        if (toB != null) {
            toB.close();
        }
        if (toC != null) {
            toC.close();
        }
    }

    @Test
    @Order(1)
    void pairsCopyTheGroupAndFollowTheLoad() {
        // data before the pairs exist: the initial copy must carry it
        FioJob before = FioJob.of("before", a.nbdUri("r1"), "16M", 11).offset("0");
        FioResult wrote = before.run(work, Duration.ofMinutes(2), before.writeCommand("write"));
        assertThat(wrote.exitCode()).as(wrote.describe()).isZero();

        a.execOk("doppel:pair-create --mode sync " + GROUP + " b");
        a.execOk("doppel:pair-create --mode async " + GROUP + " c");
        Sites.awaitPair(a, GROUP, "b", "in sync", PAIR_TIMEOUT, p -> p.path("state").asText().equals("in-sync"));
        Sites.awaitPair(a, GROUP, "c", "replicating", PAIR_TIMEOUT,
                p -> p.path("state").asText().equals("replicating"));
        for (Appliance target : List.of(b, c)) {
            for (String v : VOLUMES) {
                target.execOk("doppel:export-add " + v);
            }
        }

        FioJob load = FioJob.of("load", a.nbdUri("r2"), "32M", 12).offset("0").ioDepth(16);
        FioResult loaded = load.run(work, Duration.ofMinutes(2), load.writeCommand("write"));
        assertThat(loaded.exitCode()).as(loaded.describe()).isZero();

        Sites.awaitCaughtUp(a, GROUP, "b", PAIR_TIMEOUT);
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        for (Appliance target : List.of(b, c)) {
            for (String v : VOLUMES) {
                ProcessResult cmp = Sites.compare(a.nbdUri(v), target.nbdUri(v));
                assertThat(cmp.exitCode()).as("qemu-img compare %s on a and %s\n%s", v, target.name(), cmp.describe())
                        .isZero();
            }
            for (FioJob job : List.of(before, load)) {
                FioJob there = job.against(target.nbdUri(job == before ? "r1" : "r2"));
                FioResult verified = there.run(work, Duration.ofMinutes(2), there.verifyCommand(false));
                assertThat(verified.exitCode()).as("fio verify of %s on %s\n%s", job, target.name(),
                        verified.describe()).isZero();
                assertThat(verified.reads()).as("blocks fio verified").isGreaterThan(1000);
            }
        }
        JsonNode onB = Sites.pair(b, GROUP, "a");
        assertThat(onB.path("role").asText()).isEqualTo("secondary");
        // negative control: the compare notices one different block
        a.execOk("doppel:pair-suspend " + GROUP + " c");
        assertThat(Scenario.qemuIoSucceeded(Scenario.qemuIo(a.nbdUri("r1"), "write -P 0x5a 0 4k"))).isTrue();
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isEqualTo(1);
        a.execOk("doppel:pair-resume " + GROUP + " c");
        Sites.awaitCaughtUp(a, GROUP, "c", PAIR_TIMEOUT);
        assertThat(Sites.compare(a.nbdUri("r1"), c.nbdUri("r1")).exitCode()).isZero();
    }
}
