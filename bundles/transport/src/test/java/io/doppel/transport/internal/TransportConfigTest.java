package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;

class TransportConfigTest {

    @Test
    void noPropertiesGiveTheDefaults() {
        TransportConfig c = TransportConfig.from(Map.of(), null);
        assertThat(c).isEqualTo(TransportConfig.DEFAULTS);
        assertThat(c.port()).isEqualTo(10810);
        assertThat(c.address()).isEqualTo("127.0.0.1");
        assertThat(c.heartbeatMillis()).isEqualTo(1000);
        assertThat(c.deadAfterMillis()).isEqualTo(5000);
        assertThat(c.maxQueuedBytes()).isEqualTo(64L << 20);
    }

    @Test
    void valuesAreReadFromTextAsConfigAdminGivesThem() {
        TransportConfig c = TransportConfig.from(Map.of("port", "20000", "heartbeatMillis", "250",
                "deadAfterMillis", 1000L, "maxQueuedBytes", "8M", "maxPayloadBytes", "1G", "address", "0.0.0.0",
                "directory", "/var/lib/doppel/tls"), null);
        assertThat(c.port()).isEqualTo(20000);
        assertThat(c.heartbeatMillis()).isEqualTo(250);
        assertThat(c.deadAfterMillis()).isEqualTo(1000);
        assertThat(c.maxQueuedBytes()).isEqualTo(8L << 20);
        assertThat(c.maxPayloadBytes()).isEqualTo(1L << 30);
        assertThat(c.address()).isEqualTo("0.0.0.0");
        assertThat(c.directoryPath()).isEqualTo(Path.of("/var/lib/doppel/tls"));
    }

    @Test
    void aBadValueKeepsThePreviousOne() {
        TransportConfig previous = TransportConfig.DEFAULTS.withPort(20000);
        TransportConfig c = TransportConfig.from(Map.of("port", "70000", "heartbeatMillis", "often",
                "maxQueuedBytes", "lots", "address", "two words", "connectTimeoutMillis", "5"), previous);
        assertThat(c.port()).isEqualTo(20000);
        assertThat(c.heartbeatMillis()).isEqualTo(previous.heartbeatMillis());
        assertThat(c.maxQueuedBytes()).isEqualTo(previous.maxQueuedBytes());
        assertThat(c.address()).isEqualTo(previous.address());
        assertThat(c.connectTimeoutMillis()).isEqualTo(previous.connectTimeoutMillis());
    }

    @Test
    void aPeerIsNotDeclaredDeadBeforeTwoHeartbeatsWentMissing() {
        TransportConfig c = TransportConfig.from(Map.of("heartbeatMillis", "2000", "deadAfterMillis", "3000"), null);
        assertThat(c.deadAfterMillis()).isEqualTo(5000); // the default, which is at least twice 2000
        TransportConfig d = TransportConfig.from(Map.of("heartbeatMillis", "4000", "deadAfterMillis", "3000"), null);
        assertThat(d.deadAfterMillis()).isEqualTo(8000);
    }

    @Test
    void theKarafBaseInTheDirectoryIsResolved() {
        String old = System.getProperty("karaf.base");
        System.setProperty("karaf.base", "/opt/doppel");
        try {
            assertThat(TransportConfig.DEFAULTS.directoryPath()).isEqualTo(Path.of("/opt/doppel/doppel/tls"));
        } finally {
            if (old == null) {
                System.clearProperty("karaf.base");
            } else {
                System.setProperty("karaf.base", old);
            }
        }
    }
}
