package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.ServerFixture.MIB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

/** The component wrapper: configuration, reconfiguration, a busy port, deactivation. */
class NbdServerComponentTest {

    private final MemoryDeviceProvider devices = new MemoryDeviceProvider().volume("vol0", MIB);
    private final SimulatedStorage storage = new SimulatedStorage();

    private Map<String, Object> props(int port) {
        Map<String, Object> p = new HashMap<>();
        p.put("port", String.valueOf(port));
        p.put("exportsFile", "/component-test/exports");
        p.put("workerThreads", "4");
        return p;
    }

    @Test
    void aBusyPortIsReportedAndExportsStayManageable() throws IOException {
        try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            int port = busy.getLocalPort();
            NbdServer server = new NbdServer(devices, storage, props(port));
            try {
                NbdStatus status = server.status();
                assertThat(status.up()).isFalse();
                assertThat(status.listening())
                        .isEqualTo("cannot listen on 127.0.0.1:" + port + ": address already in use");
                server.addExport(new Export("extra", "vol0", null, true, ""));
                assertThat(server.exports()).extracting(ExportStatus::name).containsExactly("extra", "vol0");
                assertThat(server.vetoDelete("vol0")).isPresent();
            } finally {
                server.deactivate();
            }
        }
    }

    @Test
    void reconfigurationRestartsOnlyWhenSomethingChanged() throws Exception {
        NbdServer server = new NbdServer(devices, storage, props(0));
        try {
            int port = port(server);
            try (RawClient c = new RawClient(port)) {
                c.go("vol0", false, false);
                // same settings, and a bad value that keeps the previous one: no restart
                server.modified(props(0));
                Map<String, Object> bad = props(0);
                bad.put("workerThreads", "-3");
                server.modified(bad);
                assertThat(c.read(1, 0, 512)).hasSize(512);

                Map<String, Object> changed = props(0);
                changed.put("maxInFlightRequests", "64");
                server.modified(changed);
                assertThat(c.closedByServer()).as("a restart drops connections").isTrue();
            }
            try (RawClient c = new RawClient(port(server))) {
                c.go("vol0", false, false);
                assertThat(c.read(2, 0, 512)).hasSize(512);
            }
        } finally {
            server.deactivate();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> devices.openDevices.get() == 0);
        assertThatThrownBy(server::status).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not running");
    }

    @Test
    void aDamagedRegistryStopsActivationWithTheReason() throws IOException {
        NbdServer first = new NbdServer(devices, storage, props(0));
        first.deactivate();
        storage.flipBit(java.nio.file.Paths.get("/component-test/exports"), 12, 0);
        assertThatThrownBy(() -> new NbdServer(devices, storage, props(0))).isInstanceOf(IOException.class)
                .hasMessageContaining("/component-test/exports").hasMessageContaining("CRC32C");
    }

    private static int port(NbdServer server) {
        String listening = server.status().listening();
        return Integer.parseInt(listening.substring(listening.lastIndexOf(':') + 1));
    }
}
