package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cluster and appliance bookkeeping against a fake distribution whose {@code bin/karaf} is a
 * shell script: unpacking, configuration, work directory handling, start failures, kill.
 */
class ClusterTest {

    @TempDir
    Path dir;

    private Path workDir;

    @BeforeEach
    void setUp() {
        workDir = dir.resolve("work");
    }

    @Test
    void unpacksEachApplianceWithItsOwnPortsNameAndKey() throws IOException {
        Distribution distribution = fakeDistribution("exec sleep 600");

        try (Cluster cluster = Cluster.builder(workDir).distribution(distribution).appliances(2).build()) {
            Appliance node1 = cluster.appliance("node1");
            Appliance node2 = cluster.appliance("node2");

            assertThat(node1.home()).isEqualTo(workDir.resolve("node1"));
            assertThat(node1.ports()).isNotEqualTo(node2.ports());
            assertThat(node1.configuration("org.apache.karaf.shell", "sshPort")).contains(Integer.toString(node1.sshPort()));
            assertThat(node1.configuration("org.apache.karaf.shell", "sshHost")).contains("127.0.0.1");
            assertThat(node2.configuration("io.doppel.nbd", "port")).contains(Integer.toString(node2.nbdPort()));
            assertThat(ConfigFiles.get(node1.etcDir().resolve("system.properties"), "karaf.name")).contains("node1");
            assertThat(Files.readString(node1.etcDir().resolve("keys.properties")))
                    .contains("karaf=" + cluster.sshKey().publicKeyBlob() + ",_g_:admingroup")
                    .contains("_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh");
            assertThat(cluster.sshKey().privateKey()).exists();
            assertThat(Files.getPosixFilePermissions(cluster.sshKey().privateKey()))
                    .isEqualTo(PosixFilePermissions.fromString("rw-------"));
            assertThatThrownBy(() -> cluster.appliance("node3"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("node3").hasMessageContaining("node1");
        }
    }

    @Test
    void closeDeletesTheWorkDirectoryUnlessATestFailed() throws IOException {
        Distribution distribution = fakeDistribution("exec sleep 600");

        Cluster.builder(workDir).distribution(distribution).appliances("a").keepWorkDir(false).build().close();
        assertThat(workDir).doesNotExist();

        Cluster failed = Cluster.builder(workDir).distribution(distribution).appliances("a").keepWorkDir(false).build();
        failed.markFailed();
        failed.close();
        assertThat(workDir.resolve("a/bin/karaf")).exists();

        // a kept directory from an earlier run is replaced by the next one
        Cluster.builder(workDir).distribution(distribution).appliances("b").keepWorkDir(false).build().close();
        assertThat(workDir).doesNotExist();
    }

    @Test
    void refusesAWorkDirectoryItDidNotMake() throws IOException {
        Files.createDirectories(workDir);
        Files.writeString(workDir.resolve("precious.txt"), "keep me");

        assertThatThrownBy(() -> Cluster.builder(workDir).distribution(fakeDistribution("exit 0")).appliances(1).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(workDir.toString());
        assertThat(workDir.resolve("precious.txt")).exists();
    }

    @Test
    void aKarafThatExitsFailsTheStartAtOnceWithItsOutput() throws IOException {
        Distribution distribution = fakeDistribution("echo 'Error: something is badly wrong'; exit 3");

        try (Cluster cluster = Cluster.builder(workDir).distribution(distribution).appliances(1).build()) {
            Appliance node = cluster.appliance("node1").startTimeout(Duration.ofSeconds(60));
            long started = System.nanoTime();

            assertThatThrownBy(node::start)
                    .isInstanceOf(HarnessException.class)
                    .hasMessageContaining("node1 did not become ready")
                    .hasMessageContaining("Karaf of node1 exited")
                    .hasMessageContaining("something is badly wrong");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(30));
            assertThat(node.isRunning()).isFalse();
        }
    }

    @Test
    void killEndsALaunchedApplianceAndIsIdempotent() throws IOException {
        Distribution distribution = fakeDistribution("exec sleep 600");

        try (Cluster cluster = Cluster.builder(workDir).distribution(distribution).appliances(1).build()) {
            Appliance node = cluster.appliance("node1");
            node.launch();
            assertThat(node.isRunning()).isTrue();
            assertThatThrownBy(node::launch).isInstanceOf(IllegalStateException.class).hasMessageContaining("already running");

            node.kill();
            node.kill();

            assertThat(node.isRunning()).isFalse();
            assertThat(node.consoleLog().grep("^=== .* starting node1$")).hasSize(1);
        }
    }

    @Test
    void rejectsBadNamesAndSettings() throws IOException {
        Distribution distribution = fakeDistribution("exit 0");

        assertThatThrownBy(() -> Cluster.builder(workDir).distribution(distribution).appliances("a", "a"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'a'");
        assertThatThrownBy(() -> Cluster.builder(workDir).distribution(distribution).appliances("../up").build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'../up'");
        assertThatThrownBy(() -> Cluster.builder(workDir).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("No appliances");
        assertThatThrownBy(() -> new Distribution(dir.resolve("missing.tar.gz")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("missing.tar.gz");
        try (Cluster cluster = Cluster.builder(workDir).distribution(distribution).appliances(1).build()) {
            Appliance node = cluster.appliance("node1");
            assertThatThrownBy(() -> node.configure("../etc", "k", "v"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'../etc'");
            assertThatThrownBy(() -> node.startTimeout(Duration.ZERO))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("start timeout");
            assertThatThrownBy(node::stop).isInstanceOf(IllegalStateException.class).hasMessageContaining("not been started");
            assertThatThrownBy(() -> node.exec(" ")).isInstanceOf(IllegalArgumentException.class);
        }
    }

    /** A tar.gz shaped like the distribution, whose {@code bin/karaf} runs {@code script}. */
    private Distribution fakeDistribution(String script) throws IOException {
        Path root = dir.resolve("dist-src/doppel-distribution-0.1.0-SNAPSHOT");
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("etc"));
        Path karaf = root.resolve("bin/karaf");
        Files.writeString(karaf, "#!/bin/sh\n" + script + "\n");
        Files.setPosixFilePermissions(karaf, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(root.resolve("etc/org.apache.karaf.shell.cfg"), "sshHost=0.0.0.0\nsshPort=8101\n");
        Files.writeString(root.resolve("etc/io.doppel.nbd.cfg"), "address = 127.0.0.1\nport = 10809\n");
        Files.writeString(root.resolve("etc/system.properties"), "karaf.name = root\n");
        Path tarGz = dir.resolve("dist.tar.gz");
        Processes.run(Duration.ofSeconds(30), "tar", "czf", tarGz.toString(), "-C", root.getParent().toString(),
                root.getFileName().toString()).requireSuccess();
        return new Distribution(tarGz);
    }
}
