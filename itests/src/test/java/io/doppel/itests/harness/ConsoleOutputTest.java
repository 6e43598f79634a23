package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Parsing of what Karaf's console prints, on samples captured from the distribution. */
class ConsoleOutputTest {

    private static final String BUNDLE_LIST = """
            START LEVEL 100 , List Threshold: 0
             0\tActive  \t  0\t7.0.5             \tSystem Bundle, Fragments: 1
             1\tResolved\t  1\t4.4.10            \tApache Karaf :: Features :: Extension, Hosts: 0
             2\tActive  \t  5\t2.7.0             \tOPS4J Pax Url - mvn:
            28\tActive  \t 80\t0.1.0.202611220305\tDoppel :: API
            65\tInstalled\t 80\t1.0.0             \tBroken | with a pipe
            66\tResolved\t 80\t1.0.0             \tNot started
            """;

    private static final String FEATURE_LIST = """
            feature       \t4.4.10        \tx       \tStarted\tstandard-4.4.10      \tFeatures Support
            doppel-api    \t0.1.0.SNAPSHOT\t        \tStarted\tdoppel-0.1.0-SNAPSHOT\tDoppel API
            doppel        \t0.1.0.SNAPSHOT\tx       \tResolved\tdoppel-0.1.0-SNAPSHOT\tDoppel appliance
            """;

    @Test
    void parsesBundleListRows() {
        List<InstalledBundle> bundles = InstalledBundle.parse(BUNDLE_LIST);

        assertThat(bundles).extracting(InstalledBundle::id).containsExactly(0L, 1L, 2L, 28L, 65L, 66L);
        assertThat(bundles.get(3)).isEqualTo(new InstalledBundle(28, "Active", 80, "0.1.0.202611220305", "Doppel :: API"));
        assertThat(bundles.get(4).name()).isEqualTo("Broken | with a pipe");
    }

    @Test
    void activeBundlesAndResolvedFragmentsAreHealthyAndNothingElse() {
        List<InstalledBundle> bundles = InstalledBundle.parse(BUNDLE_LIST);

        assertThat(bundles.get(1).isFragment()).isTrue();
        assertThat(bundles.stream().filter(bundle -> !bundle.isHealthy()))
                .extracting(InstalledBundle::id).containsExactly(65L, 66L);
        assertThat(new InstalledBundle(70, "Failure", 80, "1", "x").isHealthy()).isFalse();
    }

    @Test
    void aMalformedBundleRowIsRefusedWithTheLine() {
        assertThatThrownBy(() -> InstalledBundle.parse("12\tActive\n"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("12\tActive");
    }

    @Test
    void parsesFeatureListRows() {
        List<InstalledFeature> features = InstalledFeature.parse(FEATURE_LIST);

        assertThat(features).containsExactly(
                new InstalledFeature("feature", "4.4.10", true, "Started"),
                new InstalledFeature("doppel-api", "0.1.0.SNAPSHOT", false, "Started"),
                new InstalledFeature("doppel", "0.1.0.SNAPSHOT", true, "Resolved"));
        assertThat(features.get(2).isStarted()).isFalse();
    }

    @Test
    void shellResultDropsColoursAndSshNoise() {
        ProcessResult ssh = new ProcessResult(List.of("ssh"), 1,
                "\u001B[31mError executing command: \u001B[0m\u001B[31;1mNo matching bundles\u001B[0m\n",
                "Connection to 127.0.0.1 closed by remote host.\r\n", Duration.ofMillis(80), false);

        ShellResult result = ShellResult.of("node1", "bundle:start 999", ssh);

        assertThat(result.output()).isEqualTo("Error executing command: No matching bundles");
        assertThat(result.errors()).isEmpty();
        assertThat(result.failed()).isTrue();
        assertThat(result.unreachable()).isFalse();
        assertThatThrownBy(result::requireSuccess)
                .isInstanceOf(CommandFailedException.class)
                .hasMessageContaining("`bundle:start 999` on node1 ended with 1")
                .hasMessageContaining("No matching bundles")
                .extracting(e -> ((CommandFailedException) e).result()).isSameAs(result);
    }

    @Test
    void shellResultKeepsRealSshErrors() {
        ProcessResult ssh = new ProcessResult(List.of("ssh"), 255, "",
                "ssh: connect to host 127.0.0.1 port 20101: Connection refused\r\n", Duration.ofMillis(5), false);

        ShellResult result = ShellResult.of("node1", "system:name", ssh);

        assertThat(result.unreachable()).isTrue();
        assertThat(result.errors()).isEqualTo("ssh: connect to host 127.0.0.1 port 20101: Connection refused");
        assertThat(result.describe()).contains("ssh could not connect or log in");
    }

    @Test
    void successfulOutputSplitsIntoLines() {
        ProcessResult ssh = new ProcessResult(List.of("ssh"), 0, "a\nb\n\n", "", Duration.ofMillis(5), false);

        ShellResult result = ShellResult.of("node1", "echo", ssh);

        assertThat(result.requireSuccess().lines()).containsExactly("a", "b");
        assertThat(ShellResult.of("node1", "x", new ProcessResult(List.of("ssh"), 0, "", "", Duration.ZERO, false))
                .lines()).isEmpty();
    }

    @Test
    void sshKeyParsingTakesTheBlob() {
        assertThat(SshKey.parsePublicKey("ssh-rsa AAAAB3Nza doppel-itests\n")).isEqualTo("AAAAB3Nza");
        assertThatThrownBy(() -> SshKey.parsePublicKey("garbage"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("garbage");
        assertThat(new SshKey(java.nio.file.Path.of("k"), "AAAA").keysPropertiesEntry("karaf"))
                .isEqualTo("karaf=AAAA,_g_:admingroup");
    }
}
