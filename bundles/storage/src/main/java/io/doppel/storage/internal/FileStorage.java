package io.doppel.storage.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import io.doppel.api.storage.Storage;
import io.doppel.api.storage.StorageFile;

import org.osgi.service.component.annotations.Component;

/** The production storage: {@link FileChannel} positional I/O, fdatasync for force. */
@Component(service = Storage.class, property = "storage.kind=file")
public final class FileStorage implements Storage {

    @Override
    public StorageFile open(Path path, boolean create) throws IOException {
        FileChannel ch = create
                ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.CREATE)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        return new ChannelFile(path, ch);
    }

    @Override
    public boolean exists(Path path) {
        return Files.exists(path);
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Files.createDirectories(dir);
        forceDirectory(dir.toAbsolutePath().getParent());
    }

    @Override
    public List<Path> list(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            ds.forEach(out::add);
        }
        out.sort(null);
        return out;
    }

    @Override
    public void deleteIfExists(Path path) throws IOException {
        if (Files.deleteIfExists(path)) {
            forceDirectory(path.toAbsolutePath().getParent());
        }
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + from + " to " + to + " atomically", e);
        }
        forceDirectory(to.toAbsolutePath().getParent());
    }

    @Override
    public void writeAtomically(Path target, ByteBuffer content) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + target.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
            ByteBuffer b = content.duplicate();
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        forceDirectory(dir);
    }

    @Override
    public byte[] readAll(Path path) throws IOException {
        return Files.readAllBytes(path);
    }

    @Override
    public long usableSpace(Path dir) throws IOException {
        return Files.getFileStore(existingAncestor(dir)).getUsableSpace();
    }

    @Override
    public long totalSpace(Path dir) throws IOException {
        return Files.getFileStore(existingAncestor(dir)).getTotalSpace();
    }

    private static Path existingAncestor(Path p) throws NoSuchFileException {
        Path cur = p.toAbsolutePath();
        while (cur != null && !Files.exists(cur)) {
            cur = cur.getParent();
        }
        if (cur == null) {
            throw new NoSuchFileException(p.toString());
        }
        return cur;
    }

    /** A rename or a new entry is durable only once the directory itself is forced. */
    static void forceDirectory(Path dir) throws IOException {
        if (dir == null) {
            return;
        }
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
