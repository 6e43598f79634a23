package io.doppel.bitmap.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.annotation.Annotation;
import java.nio.file.Path;

import io.doppel.api.bitmap.DifferenceMap;
import io.doppel.api.journal.Position;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class DifferenceMapsComponentTest {

    private static DifferenceMapsComponent.Config config(String directory) {
        return new DifferenceMapsComponent.Config() {
            @Override
            public Class<? extends Annotation> annotationType() {
                return DifferenceMapsComponent.Config.class;
            }

            @Override
            public String directory() {
                return directory;
            }
        };
    }

    @Test
    void theDefaultDirectoryIsUnderKarafBase() {
        String before = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/opt/doppel");
        try {
            assertThat(BitmapConfig.defaultDirectory()).isEqualTo(Path.of("/opt/doppel/doppel/maps"));
            assertThat(BitmapConfig.resolve("${karaf.base}/x/../maps2", Path.of("/prev")).directory())
                    .isEqualTo(Path.of("/opt/doppel/maps2"));
        } finally {
            if (before == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", before);
            }
        }
    }

    @Test
    void aBadDirectoryIsReportedWithKeyAndValueAndThePreviousKept() {
        BitmapConfig.Outcome o = BitmapConfig.resolve("${no.such.property}/maps", Path.of("/prev"));
        assertThat(o.directory()).isEqualTo(Path.of("/prev"));
        assertThat(o.errors()).singleElement().asString().contains("io.doppel.bitmap", "directory", "'${no.such.property}/maps'",
                "no.such.property", "keeping /prev");

        assertThat(BitmapConfig.resolve("  ", Path.of("/prev")).errors()).singleElement().asString().contains("directory",
                "required");
        assertThat(BitmapConfig.resolve("/a\0b", Path.of("/prev")).errors()).singleElement().asString().contains("directory",
                "not a path");
        BitmapConfig.Outcome good = BitmapConfig.resolve("/var/maps", Path.of("/prev"));
        assertThat(good.errors()).isEmpty();
        assertThat(good.directory()).isEqualTo(Path.of("/var/maps"));
    }

    @Test
    void theComponentServesMapsAndFollowsAChangedDirectory() throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        DifferenceMapsComponent c = new DifferenceMapsComponent(storage, config("/one"));
        DifferenceMap a = c.open("a");
        assertThat(c.open("a")).isSameAs(a);
        a.addBlocks(1, 0, 8);
        a.persist(new Position(1, 5));
        assertThat(storage.exists(Path.of("/one/a.map"))).isTrue();

        c.modified(config("${no.such.property}")); // refused: stays in /one
        c.open("b").persist(new Position(1, 1));
        assertThat(storage.exists(Path.of("/one/b.map"))).isTrue();

        c.modified(config("/two"));
        c.open("c").persist(new Position(1, 1));
        assertThat(storage.exists(Path.of("/two/c.map"))).isTrue();
        a.persist(new Position(1, 6)); // an open map keeps its file
        assertThat(storage.exists(Path.of("/two/a.map"))).isFalse();
        assertThat(c.list()).containsExactly("a", "b", "c");

        c.delete("a");
        assertThat(storage.exists(Path.of("/one/a.map"))).isFalse();

        c.deactivate();
        assertThatThrownBy(() -> c.open("c")).isInstanceOf(IOException.class);
        DifferenceMapsComponent next = new DifferenceMapsComponent(storage, config("/one"));
        assertThat(next.open("b").coveredThrough()).isEqualTo(new Position(1, 1));
        assertThat(next.list()).containsExactly("b");
    }
}
