package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The harness against the real distribution: two appliances booted at once, console commands,
 * failure detection, SIGKILL and restart on the same directory, graceful stop. The tests share one
 * cluster and run in order; each leaves the appliances as the next one expects.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HarnessIT {

    private static final Logger LOG = LoggerFactory.getLogger(HarnessIT.class);

    @RegisterExtension
    static final ClusterExtension clusters = new ClusterExtension();

    private static Cluster cluster;
    private static Appliance first;
    private static Appliance second;

    @BeforeAll
    static void startTwoAppliancesAtOnce() {
        cluster = clusters.create("node1", "node2");
        first = cluster.appliance("node1");
        second = cluster.appliance("node2");
        long started = System.nanoTime();
        cluster.startAll();
        LOG.info("Two appliances ready in {} ms (node1 {}, node2 {})",
                Duration.ofNanos(System.nanoTime() - started).toMillis(),
                first.lastStartDuration().orElseThrow().toMillis(), second.lastStartDuration().orElseThrow().toMillis());
    }

    @Test
    @Order(1)
    void appliancesHaveDistinctPortsDirectoriesAndNames() {
        Set<Integer> ports = new HashSet<>();
        for (Appliance appliance : cluster.appliances()) {
            ports.addAll(List.of(appliance.sshPort(), appliance.nbdPort(), appliance.transportPort()));
        }
        assertThat(ports).hasSize(6);
        assertThat(first.home()).isNotEqualTo(second.home());
        assertThat(first.jvmPid()).isNotEqualTo(second.jvmPid());
        assertThat(first.nbdUri("vol1")).isEqualTo("nbd://127.0.0.1:" + first.nbdPort() + "/vol1");
        assertThatThrownBy(() -> first.nbdUri("a/b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'a/b'");

        for (Appliance appliance : cluster.appliances()) {
            // each ssh port reaches its own appliance, which took the configured NBD port
            assertThat(appliance.execOk("system:name")).isEqualTo(appliance.name());
            assertThat(appliance.execOk("config:property-get -p io.doppel.nbd port"))
                    .isEqualTo(Integer.toString(appliance.nbdPort()));
            assertThat(appliance.dataDir()).isEqualTo(appliance.home().resolve("doppel"));
            assertThat(appliance.karafLog().path()).exists();
        }
    }

    @Test
    @Order(2)
    void bothAnswerBundleListWithNoBundleInTrouble() {
        for (Appliance appliance : cluster.appliances()) {
            List<InstalledBundle> bundles = appliance.bundles();

            assertThat(bundles).extracting(InstalledBundle::name).contains("Doppel :: API");
            assertThat(bundles).filteredOn(bundle -> bundle.name().startsWith("Doppel"))
                    .allMatch(bundle -> "Active".equals(bundle.state()));
            assertThat(appliance.unhealthyBundles()).as("unhealthy bundles on %s", appliance.name()).isEmpty();
            assertThat(appliance.features()).filteredOn(feature -> feature.name().equals("doppel"))
                    .singleElement().matches(InstalledFeature::isStarted);
        }
    }

    @Test
    @Order(3)
    void anUnresolvableBundleIsReportedUnhealthy() throws IOException {
        // negative control for the check above: a bundle importing a package nobody exports
        Path jar = writeBundle(cluster.workDir().resolve("unresolvable.jar"));
        String installed = first.execOk("bundle:install file:" + jar);
        long id = Long.parseLong(installed.replaceAll("(?s).*?(\\d+)\\s*$", "$1"));
        try {
            assertThat(first.unhealthyBundles()).singleElement()
                    .satisfies(bundle -> assertThat(bundle.id()).isEqualTo(id))
                    .satisfies(bundle -> assertThat(bundle.state()).isEqualTo("Installed"));

            ShellResult start = first.exec("bundle:start " + id);
            assertThat(start.failed()).isTrue();
            assertThat(start.output()).contains("Error executing command").contains("no.such.pkg");
        } finally {
            first.execOk("bundle:uninstall " + id);
        }
        assertThat(first.unhealthyBundles()).isEmpty();
    }

    @Test
    @Order(4)
    void failingCommandsAreDetected() {
        ShellResult unknown = first.exec("no-such-scope:no-such-command");
        assertThat(unknown.failed()).isTrue();
        assertThat(unknown.unreachable()).isFalse();
        assertThat(unknown.output()).contains("Command not found");

        ShellResult failing = first.exec("bundle:start 999999");
        assertThat(failing.exitStatus()).isEqualTo(1);
        assertThat(failing.output()).isEqualTo("Error executing command: No matching bundles");

        assertThatThrownBy(() -> second.execOk("bundle:headers 999999"))
                .isInstanceOf(CommandFailedException.class)
                .hasMessageContaining("`bundle:headers 999999` on node2 ended with 1")
                .hasMessageContaining("No matching bundles");

        // a command after a failing one does not run, and the failure still shows
        ShellResult sequence = first.exec("bundle:start 999999; echo after");
        assertThat(sequence.failed()).isTrue();
        assertThat(sequence.output()).doesNotContain("after");

        // positive control
        ShellResult ok = first.exec("echo 'two words'");
        assertThat(ok.succeeded()).isTrue();
        assertThat(ok.output()).isEqualTo("two words");
    }

    @Test
    @Order(5)
    void consoleLatencyIsMeasured() {
        List<Long> millis = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            millis.add(first.exec("system:name").requireSuccess().elapsed().toMillis());
        }
        millis.sort(null);
        LOG.info("Console command latency over ssh, 10 calls: min {} ms, median {} ms, max {} ms",
                millis.get(0), millis.get(5), millis.get(9));
        assertThat(millis.get(5)).isLessThan(5_000L);
    }

    @Test
    @Order(6)
    void aKilledApplianceRestartsOnTheSameDirectoryAndPorts() {
        Ports ports = first.ports();
        long pid = first.jvmPid().orElseThrow();
        // written to etc/system.properties now, read at the next start: proof the directory is reused
        first.execOk("system:name node1-renamed");
        long logSize = first.karafLog().size();

        first.kill();

        assertThat(first.isRunning()).isFalse();
        assertThat(ProcessHandle.of(pid).map(Processes::isGone).orElse(true)).as("JVM %d gone", pid).isTrue();
        ShellResult refused = first.exec("system:name");
        assertThat(refused.unreachable()).isTrue();
        assertThat(refused.errors()).contains("Connection refused");

        Duration restart = first.restart();
        LOG.info("node1 restarted after SIGKILL in {} ms", restart.toMillis());

        assertThat(first.ports()).isEqualTo(ports);
        assertThat(first.jvmPid().orElseThrow()).isNotEqualTo(pid);
        assertThat(first.execOk("system:name")).isEqualTo("node1-renamed");
        assertThat(first.unhealthyBundles()).isEmpty();
        assertThat(first.karafLog().size()).isGreaterThan(logSize);
        assertThat(first.consoleLog().grep("^=== .* starting node1$")).hasSize(2);
    }

    @Test
    @Order(7)
    void gracefulStopEndsTheJvmWithoutKilling() {
        long pid = second.jvmPid().orElseThrow();

        StopResult stopped = second.stop();

        assertThat(stopped.graceful()).as("stopped without SIGKILL").isTrue();
        assertThat(stopped.exitCode()).isIn(0, 143);
        assertThat(stopped.elapsed()).isLessThan(Duration.ofSeconds(30));
        assertThat(ProcessHandle.of(pid).map(Processes::isGone).orElse(true)).isTrue();
        assertThat(second.isRunning()).isFalse();
        assertThat(second.exec("system:name").unreachable()).isTrue();
        // the other appliance is not affected
        assertThat(first.execOk("system:name")).isEqualTo("node1-renamed");
    }

    private static Path writeBundle(Path jar) throws IOException {
        Manifest manifest = new Manifest();
        Attributes main = manifest.getMainAttributes();
        main.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        main.putValue("Bundle-ManifestVersion", "2");
        main.putValue("Bundle-SymbolicName", "io.doppel.itests.unresolvable");
        main.putValue("Bundle-Version", "1.0.0");
        main.putValue("Bundle-Name", "Unresolvable test bundle");
        main.putValue("Import-Package", "no.such.pkg");
        new JarOutputStream(Files.newOutputStream(jar), manifest).close();
        return jar;
    }
}
