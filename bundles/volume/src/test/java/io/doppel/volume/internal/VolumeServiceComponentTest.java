package io.doppel.volume.internal;

import static io.doppel.volume.internal.Fixture.BS;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.annotation.Annotation;

import io.doppel.api.volume.PoolDirectory;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

/** The DS wrapper without a framework: configuration handling only. */
class VolumeServiceComponentTest {

    private static VolumeServiceComponent.Config config(String directories, String registryDirectory) {
        return new VolumeServiceComponent.Config() {
            @Override
            public String directories() {
                return directories;
            }

            @Override
            public String registryDirectory() {
                return registryDirectory;
            }

            @Override
            public Class<? extends Annotation> annotationType() {
                return VolumeServiceComponent.Config.class;
            }
        };
    }

    @Test
    void aBadConfigurationIsIgnoredAndTheServiceKeepsServing() throws IOException {
        SimulatedStorage sim = new SimulatedStorage();
        VolumeServiceComponent c = new VolumeServiceComponent(sim, config("/p1, /p2", "/reg"));
        try {
            assertThat(sim.exists(java.nio.file.Path.of("/reg", VolumeManager.REGISTRY_FILE))).isFalse();
            c.create("v", BS, "g");
            assertThat(sim.exists(java.nio.file.Path.of("/reg", VolumeManager.REGISTRY_FILE))).isTrue();
            assertThat(c.pool()).extracting(PoolDirectory::path).containsExactly("/p1", "/p2");

            c.modified(config("relative/dir", ""));
            assertThat(c.pool()).extracting(PoolDirectory::path).containsExactly("/p1", "/p2");
            c.modified(config("", ""));
            assertThat(c.pool()).extracting(PoolDirectory::path).containsExactly("/p1", "/p2");
            assertThat(c.find("v")).isPresent();

            // Control: a good change takes effect.
            c.modified(config("/p3", "/reg"));
            assertThat(c.pool()).extracting(PoolDirectory::path).containsExactly("/p3");
            assertThat(c.create("w", BS, "g").directory()).isEqualTo("/p3");
        } finally {
            c.deactivate();
        }
    }

    @Test
    void aMissingConfigurationFallsBackToTheDefaultDirectory() throws IOException {
        String old = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/karaf");
        SimulatedStorage sim = new SimulatedStorage();
        try {
            VolumeServiceComponent c = new VolumeServiceComponent(sim, config("", ""));
            assertThat(c.pool()).extracting(PoolDirectory::path).containsExactly("/karaf/doppel/volumes");
            c.deactivate();
        } finally {
            if (old == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", old);
            }
        }
    }
}
