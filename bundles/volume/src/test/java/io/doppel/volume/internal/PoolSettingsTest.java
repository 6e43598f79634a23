package io.doppel.volume.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

class PoolSettingsTest {

    @Test
    void parsesDirectoriesAndDefaultsTheRegistryToTheFirst() {
        PoolSettings s = PoolSettings.parse(" /d1 , /d2/./x ", "");
        assertThat(s.directories()).containsExactly(Path.of("/d1"), Path.of("/d2/x"));
        assertThat(s.registryDirectory()).isEqualTo(Path.of("/d1"));
        assertThat(PoolSettings.parse("/d1", "/etc/doppel").registryDirectory()).isEqualTo(Path.of("/etc/doppel"));
    }

    @Test
    void namesEveryBadValue() {
        assertThatThrownBy(() -> PoolSettings.parse("", "")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("directories is empty");
        assertThatThrownBy(() -> PoolSettings.parse(null, null)).hasMessageContaining("directories is empty");
        assertThatThrownBy(() -> PoolSettings.parse("/ok,relative/dir,${karaf.base}/x,/ok", "rel"))
                .hasMessageContaining("'relative/dir' is not an absolute path")
                .hasMessageContaining("'${karaf.base}/x' has an unresolved placeholder")
                .hasMessageContaining("lists /ok twice")
                .hasMessageContaining("registryDirectory entry 'rel' is not an absolute path");
        assertThatThrownBy(() -> PoolSettings.parse("/a,,/b", "")).hasMessageContaining("has an empty entry");
    }

    @Test
    void theDefaultIsUnderKarafBase() {
        String old = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/opt/doppel");
        try {
            assertThat(PoolSettings.defaults()).isEqualTo(
                    new PoolSettings(List.of(Path.of("/opt/doppel/doppel/volumes")), Path.of("/opt/doppel/doppel/volumes")));
        } finally {
            if (old == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", old);
            }
        }
    }
}
