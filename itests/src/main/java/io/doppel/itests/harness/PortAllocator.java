package io.doppel.itests.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Hands out free TCP ports on 127.0.0.1 and holds them until closed.
 * <p>
 * Ports are drawn at random from {@value #LOWEST}..{@value #HIGHEST}, below Linux's ephemeral
 * range (32768..60999), so that outgoing connections and Karaf's random shutdown port cannot take
 * a port between its reservation and the appliance binding it. A port is handed out only if it
 * can be bound now and if its lock file under {@code java.io.tmpdir/doppel-ports} can be locked:
 * the lock keeps other test JVMs on this machine (other builds running at the same time) off the
 * ports this one has reserved.
 */
public final class PortAllocator implements AutoCloseable {

    static final int LOWEST = 20000;
    static final int HIGHEST = 32000;
    private static final int ATTEMPTS = 500;

    private final Path lockDirectory;
    private final Random random;
    private final Map<Integer, FileLock> reserved = new LinkedHashMap<>();
    private boolean closed;

    public PortAllocator() {
        this(Path.of(System.getProperty("java.io.tmpdir"), "doppel-ports"), new Random());
    }

    PortAllocator(Path lockDirectory, Random random) {
        this.lockDirectory = lockDirectory;
        this.random = random;
        try {
            Files.createDirectories(lockDirectory);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the port lock directory " + lockDirectory, e);
        }
    }

    /** Reserves the three ports of one appliance. */
    public synchronized Ports reserveAppliancePorts() {
        return new Ports(reserve(), reserve(), reserve());
    }

    /** Reserves one free port. */
    public synchronized int reserve() {
        if (closed) {
            throw new IllegalStateException("The port allocator is closed");
        }
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            int port = LOWEST + random.nextInt(HIGHEST - LOWEST + 1);
            if (reserved.containsKey(port)) {
                continue;
            }
            FileLock lock = tryLock(port);
            if (lock == null) {
                continue;
            }
            if (isFree(port)) {
                reserved.put(port, lock);
                return port;
            }
            release(lock);
        }
        throw new HarnessException("No free port found in " + LOWEST + ".." + HIGHEST + " after "
                + ATTEMPTS + " attempts");
    }

    /** The ports reserved so far. */
    public synchronized Set<Integer> reserved() {
        return Set.copyOf(reserved.keySet());
    }

    /** Whether nothing listens on {@code 127.0.0.1:port} right now. */
    public static boolean isFree(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(false);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Releases every reserved port. */
    @Override
    public synchronized void close() {
        closed = true;
        reserved.values().forEach(PortAllocator::release);
        reserved.clear();
    }

    private FileLock tryLock(int port) {
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockDirectory.resolve(port + ".lock"),
                    StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                channel.close();
            }
            return lock;
        } catch (OverlappingFileLockException e) {
            // another allocator in this JVM holds it
            closeQuietly(channel);
            return null;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UncheckedIOException("Cannot lock " + lockDirectory.resolve(port + ".lock"), e);
        }
    }

    private static void release(FileLock lock) {
        closeQuietly(lock.channel());
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel == null) {
            return;
        }
        try {
            channel.close();
        } catch (IOException e) {
            // lock files hold no data; closing releases the lock either way
        }
    }
}
