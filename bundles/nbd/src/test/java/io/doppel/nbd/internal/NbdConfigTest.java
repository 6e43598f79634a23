package io.doppel.nbd.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Paths;
import java.util.Map;

import org.junit.jupiter.api.Test;

class NbdConfigTest {

    @Test
    void defaultsWithoutProperties() {
        assertThat(NbdConfig.from(Map.of(), null)).isEqualTo(NbdConfig.DEFAULTS);
    }

    @Test
    void stringsFromCfgFilesAreParsed() {
        NbdConfig c = NbdConfig.from(Map.of("address", "0.0.0.0", "port", "10810", "workerThreads", "4",
                "maxInFlightRequests", 32, "exportsFile", "/srv/exports", "defaultExport", ""), null);
        assertThat(c).isEqualTo(new NbdConfig("0.0.0.0", 10810, 4, 32, NbdConfig.DEFAULTS.maxInFlightBytes(),
                "/srv/exports", "", true));
    }

    @Test
    void badValuesKeepThePreviousOnes() {
        NbdConfig previous = NbdConfig.from(Map.of("port", 10811, "workerThreads", 8), null);
        NbdConfig c = NbdConfig.from(Map.of("port", "70000", "workerThreads", "many", "address", "a b",
                "defaultExport", "no/slash", "maxInFlightRequests", 0), previous);
        assertThat(c.port()).isEqualTo(10811);
        assertThat(c.workerThreads()).isEqualTo(8);
        assertThat(c.address()).isEqualTo("127.0.0.1");
        assertThat(c.defaultExport()).isEqualTo("vol0");
        assertThat(c.maxInFlightRequests()).isEqualTo(128);
        // negative control: good values are taken
        assertThat(NbdConfig.from(Map.of("port", "70"), previous).port()).isEqualTo(70);
    }

    @Test
    void karafBaseIsResolvedFromTheSystemProperty() {
        String old = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/opt/doppel");
        try {
            assertThat(NbdConfig.DEFAULTS.exportsPath()).isEqualTo(Paths.get("/opt/doppel/doppel/nbd/exports"));
        } finally {
            if (old == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", old);
            }
        }
    }
}
