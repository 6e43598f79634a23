package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class JournalConfigTest {

    private final JournalConfig.Values defaults = new JournalConfig.Values(Path.of("/var/doppel/journals"), JournalSettings.defaults());

    @Test
    void goodValuesApply() {
        JournalConfig.Outcome o = JournalConfig.resolve("/data/j", "128M", "4G", "2048", "1M", defaults);
        assertThat(o.errors()).isEmpty();
        assertThat(o.values().directory()).isEqualTo(Path.of("/data/j"));
        assertThat(o.values().settings()).isEqualTo(new JournalSettings(128L << 20, 4L << 30, 32 << 20, 2048, 1 << 20));
        assertThat(JournalConfig.resolve("/data/j", "67108864", "1073741824", "1024", "4194304", defaults).values().settings())
                .isEqualTo(JournalSettings.defaults());
    }

    @Test
    void aBadValueIsNamedAndThePreviousOneKept() {
        JournalConfig.Outcome o = JournalConfig.resolve("/data/j", "16M", "lots", "0", "3000", defaults);
        assertThat(o.values().settings()).isEqualTo(JournalSettings.defaults());
        assertThat(o.values().directory()).isEqualTo(Path.of("/data/j"));
        assertThat(o.errors()).hasSize(4);
        assertThat(o.errors().get(0)).contains("segmentBytes = '16M'").contains("largest record").contains("keeping 64 MiB");
        assertThat(o.errors().get(1)).contains("capacityBytes = 'lots'").contains("keeping 1 GiB");
        assertThat(o.errors().get(2)).contains("activityLogExtents = '0'").contains("between 1 and 65536");
        assertThat(o.errors().get(3)).contains("activityExtentBytes = '3000'").contains("power of two");
    }

    @Test
    void aCapacityBelowTwoSegmentsIsRefused() {
        JournalConfig.Outcome o = JournalConfig.resolve("/data/j", "512M", "768M", "1024", "4M", defaults);
        assertThat(o.errors()).anyMatch(e -> e.contains("capacityBytes = '768M'") && e.contains("two segments"));
        assertThat(o.values().settings().capacityBytes()).isGreaterThanOrEqualTo(2 * o.values().settings().segmentBytes());
    }

    @Test
    void karafBaseIsResolvedFromTheSystemProperty() {
        String old = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/opt/doppel");
        try {
            JournalConfig.Outcome o = JournalConfig.resolve("${karaf.base}/doppel/journals", "64M", "1G", "1024", "4M", defaults);
            assertThat(o.values().directory()).isEqualTo(Path.of("/opt/doppel/doppel/journals"));
            JournalConfig.Outcome bad = JournalConfig.resolve("${no.such.property}/j", "64M", "1G", "1024", "4M", defaults);
            assertThat(bad.errors()).singleElement().asString().contains("directory").contains("no.such.property");
            assertThat(bad.values().directory()).isEqualTo(defaults.directory());
        } finally {
            if (old == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", old);
            }
        }
    }
}
