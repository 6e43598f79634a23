package io.doppel.itests.scenario;

import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.Processes;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small ext4 file system in an image file, loop-mounted for a test that needs a disk to fill
 * up. Mounting needs root (this sandbox runs tests as root). {@link #close()} unmounts it and
 * detaches the loop device, also after a failure; whoever has files open on it must be stopped
 * first.
 */
final class LoopFilesystem implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LoopFilesystem.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private final Path image;
    private final Path mountPoint;
    private boolean mounted;

    private LoopFilesystem(Path image, Path mountPoint) {
        this.image = image;
        this.mountPoint = mountPoint;
    }

    /** Creates an image of {@code sizeMiB} MiB, makes an ext4 file system in it and mounts it. */
    static LoopFilesystem mount(Path image, Path mountPoint, int sizeMiB) {
        LoopFilesystem filesystem = new LoopFilesystem(image, mountPoint);
        try {
            Files.createDirectories(mountPoint);
            run("truncate", "-s", sizeMiB + "M", image.toString()).requireSuccess();
            run("mkfs.ext4", "-q", "-F", image.toString()).requireSuccess();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + mountPoint, e);
        }
        ProcessResult mount = run("mount", "-o", "loop", image.toString(), mountPoint.toString());
        if (!mount.succeeded()) {
            throw new AssertionError("Cannot loop-mount " + image + " on " + mountPoint + ": this test needs root "
                    + "(mount -o loop) to put the data home on a small file system that can fill up\n"
                    + mount.describe());
        }
        filesystem.mounted = true;
        LOG.info("Mounted a {} MiB ext4 file system from {} on {}", sizeMiB, image, mountPoint);
        return filesystem;
    }

    Path mountPoint() {
        return mountPoint;
    }

    /** Free space for an unprivileged writer, in bytes. */
    long usableBytes() {
        try {
            return Files.getFileStore(mountPoint).getUsableSpace();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the free space of " + mountPoint, e);
        }
    }

    /** Writes a file of {@code bytes} real (not sparse) bytes and forces it. */
    Path ballast(String name, long bytes) {
        Path file = mountPoint.resolve(name);
        byte[] chunk = new byte[1 << 20];
        Arrays.fill(chunk, (byte) 0x42);
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long written = 0; written < bytes; written += chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, bytes - written));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write ballast " + file, e);
        }
        run("sync", "-f", file.toString());
        return file;
    }

    /** Unmounts (lazily if it stays busy) and detaches the loop device. */
    @Override
    public void close() {
        if (!mounted) {
            return;
        }
        ProcessResult umount = run("umount", mountPoint.toString());
        if (!umount.succeeded()) {
            LOG.warn("umount {} failed; detaching lazily: {}", mountPoint, umount.describe());
            run("umount", "-l", mountPoint.toString());
        }
        // mount -o loop sets autoclear, but a lazy unmount may leave the device attached
        ProcessResult attached = run("losetup", "-j", image.toString());
        for (String line : attached.stdout().lines().toList()) {
            String device = line.substring(0, line.indexOf(':'));
            run("losetup", "-d", device);
        }
        mounted = false;
        LOG.info("Unmounted {}", mountPoint);
    }

    private static ProcessResult run(String... command) {
        return Processes.run(TIMEOUT, command);
    }
}
