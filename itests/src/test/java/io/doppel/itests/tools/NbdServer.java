package io.doppel.itests.tools;

import static org.awaitility.Awaitility.await;

import io.doppel.itests.harness.BackgroundProcess;
import io.doppel.itests.harness.PortAllocator;
import io.doppel.itests.harness.Processes;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/** A real NBD server (qemu-nbd or nbdkit) in the foreground on a free port of 127.0.0.1, for tests. */
final class NbdServer implements AutoCloseable {

    private final PortAllocator ports;
    private final int port;
    private final BackgroundProcess process;

    private NbdServer(PortAllocator ports, int port, BackgroundProcess process) {
        this.ports = ports;
        this.port = port;
        this.process = process;
    }

    /** {@code qemu-nbd} serving {@code image} (created with {@code bytes} if missing) as {@code export}. */
    static NbdServer qemuNbd(Path image, long bytes, String export, Path log) {
        try {
            if (!Files.exists(image)) {
                Files.createDirectories(image.toAbsolutePath().getParent());
                try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
                    file.setLength(bytes);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return start(log, port -> List.of("qemu-nbd", "-f", "raw", "-x", export, "-b", "127.0.0.1", "-p",
                Integer.toString(port), "--persistent", "--shared=8", image.toString()));
    }

    /** {@code nbdkit} with {@code arguments} (filters, plugin, plugin parameters) after its own options. */
    static NbdServer nbdkit(Path log, String... arguments) {
        return start(log, port -> {
            List<String> command = new ArrayList<>(List.of("nbdkit", "-f", "-i", "127.0.0.1", "-p",
                    Integer.toString(port)));
            command.addAll(List.of(arguments));
            return command;
        });
    }

    private static NbdServer start(Path log, IntFunction<List<String>> command) {
        PortAllocator ports = new PortAllocator();
        int port = ports.reserve();
        BackgroundProcess process = Processes.start(log, command.apply(port).toArray(String[]::new));
        NbdServer server = new NbdServer(ports, port, process);
        try {
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                    .until(() -> !process.isAlive() || accepts(port));
            if (!process.isAlive()) {
                throw new IllegalStateException(process.command() + " ended: " + process.output());
            }
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    int port() {
        return port;
    }

    InetSocketAddress address() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    NbdClient connect(String export) {
        return NbdClient.connect(address(), export);
    }

    String output() {
        return process.output();
    }

    @Override
    public void close() {
        process.terminate(Duration.ofSeconds(10));
        ports.close();
    }
}
