package io.doppel.nbd.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.function.UnaryOperator;

import io.doppel.testkit.SimulatedStorage;
import io.netty.buffer.LeakProbe;

/** A server on a free port over {@link MemoryDeviceProvider} volumes, for one test. */
final class ServerFixture implements AutoCloseable {

    static final int MIB = 1 << 20;
    static final Path EXPORTS = Paths.get("/nbd-test/etc/exports");

    final MemoryDeviceProvider devices;
    final SimulatedStorage storage = new SimulatedStorage();
    final NbdService server;

    ServerFixture(MemoryDeviceProvider devices) throws IOException {
        this(devices, c -> c);
    }

    ServerFixture(MemoryDeviceProvider devices, UnaryOperator<NbdConfig> tune) throws IOException {
        LeakProbe.install();
        this.devices = devices;
        NbdConfig config = tune.apply(NbdConfig.DEFAULTS.withPort(0).withExportsFile(EXPORTS));
        server = new NbdService(config, storage, devices);
        server.start();
    }

    int port() {
        return server.port();
    }

    String uri(String export) {
        return "nbd://127.0.0.1:" + port() + "/" + export;
    }

    ServerFixture export(String name, String volume, String snapshot, boolean readOnly, String description)
            throws IOException {
        server.addExport(new Export(name, volume, snapshot, readOnly, description));
        return this;
    }

    RawClient client() throws IOException {
        return new RawClient(port());
    }

    /** Stops the server and waits until every device it opened is closed again. */
    @Override
    public void close() {
        server.close();
        await().atMost(Duration.ofSeconds(10)).until(() -> devices.openDevices.get() == 0);
        assertThat(LeakProbe.leaks()).as("Netty buffers never released").isEmpty();
    }
}
