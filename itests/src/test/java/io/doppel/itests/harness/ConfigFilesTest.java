package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigFilesTest {

    @TempDir
    Path dir;

    @Test
    void replacesTheLineOfAKeyAndKeepsTheRest() throws Exception {
        Path file = dir.resolve("org.apache.karaf.shell.cfg");
        Files.writeString(file, "#Modified by Karaf\nsshHost=127.0.0.1\nsshPort=8101\nsshPortX = 1\n");

        ConfigFiles.set(file, "sshPort", "20101");

        assertThat(Files.readString(file)).isEqualTo("#Modified by Karaf\nsshHost=127.0.0.1\nsshPort = 20101\nsshPortX = 1\n");
        assertThat(ConfigFiles.get(file, "sshPort")).contains("20101");
    }

    @Test
    void appendsAMissingKeyAndCreatesAMissingFile() throws Exception {
        Path file = dir.resolve("io.doppel.transport.cfg");

        ConfigFiles.set(file, "port", "20300");
        ConfigFiles.set(file, "address", "127.0.0.1");

        assertThat(Files.readString(file)).isEqualTo("port = 20300\naddress = 127.0.0.1\n");
    }

    @Test
    void doesNotTouchCommentsNamingTheKey() throws Exception {
        Path file = dir.resolve("io.doppel.nbd.cfg");
        Files.writeString(file, "# port = 1\nport = 10809\n");

        ConfigFiles.set(file, "port", "20809");

        assertThat(Files.readString(file)).isEqualTo("# port = 1\nport = 20809\n");
    }

    @Test
    void replacesAMultiLineValueWhole() throws Exception {
        Path file = dir.resolve("org.apache.karaf.features.cfg");
        Files.writeString(file, "featuresBoot = \\\n    a, \\\n    b\nfeaturesBootAsynchronous=false\n");

        ConfigFiles.set(file, "featuresBoot", "a, b, c");

        assertThat(Files.readString(file)).isEqualTo("featuresBoot = a, b, c\nfeaturesBootAsynchronous=false\n");
    }

    @Test
    void readsValuesTheWayJavaPropertiesDo() throws Exception {
        Path file = dir.resolve("system.properties");
        Files.writeString(file, "karaf.name = root\nother: x\n");

        assertThat(ConfigFiles.get(file, "karaf.name")).contains("root");
        assertThat(ConfigFiles.get(file, "other")).contains("x");
        assertThat(ConfigFiles.get(file, "missing")).isEmpty();
        assertThat(ConfigFiles.get(dir.resolve("absent.cfg"), "karaf.name")).isEmpty();
    }

    @Test
    void refusesKeysAndValuesThatWouldBreakTheFile() {
        Path file = dir.resolve("x.cfg");

        assertThatThrownBy(() -> ConfigFiles.set(file, "a b", "1"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'a b'");
        assertThatThrownBy(() -> ConfigFiles.set(file, "", "1"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("key");
        assertThatThrownBy(() -> ConfigFiles.set(file, "k", "1\n2"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("several lines");
    }
}
