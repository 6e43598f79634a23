package io.doppel.itests.tools;

import io.doppel.itests.tools.History.Write;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;

/** Volume images held in memory, built block by block from a history, for checker tests. */
final class TestImages {

    static final int BLOCK = BlockPattern.BLOCK_SIZE;

    private final History history;
    private final Map<String, byte[]> content = new LinkedHashMap<>();

    /** All volumes zero. */
    TestImages(History history) {
        this.history = history;
        for (History.Volume volume : history.volumes()) {
            content.put(volume.name(), new byte[Math.toIntExact(volume.blocks() * BLOCK)]);
        }
    }

    /** Copies of the workload's blocks of each volume's raw image file. */
    static TestImages copyOf(History history, Map<String, Path> files) {
        TestImages images = new TestImages(history);
        files.forEach((volume, file) -> {
            byte[] target = images.content.get(volume);
            try {
                byte[] bytes = Files.readAllBytes(file);
                System.arraycopy(bytes, 0, target, 0, target.length);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        return images;
    }

    /** Applies {@code write} to all its blocks. */
    TestImages apply(Write write) {
        for (long block = write.firstBlock(); block <= write.lastBlock(); block++) {
            set(history.volumes().get(write.volume()).name(), block, history.content(write, block));
        }
        return this;
    }

    /** Applies {@code writes} in issue order, the order the writes to each block took effect. */
    TestImages replay(Collection<Write> writes) {
        writes.stream().sorted(Comparator.comparingLong(Write::issueTick)).forEach(this::apply);
        return this;
    }

    TestImages set(String volume, long block, byte[] blockContent) {
        System.arraycopy(blockContent, 0, content.get(volume), Math.toIntExact(block * BLOCK), BLOCK);
        return this;
    }

    TestImages zero(String volume, long block) {
        return set(volume, block, new byte[BLOCK]);
    }

    byte[] block(String volume, long block) {
        int offset = Math.toIntExact(block * BLOCK);
        return Arrays.copyOfRange(content.get(volume), offset, offset + BLOCK);
    }

    Map<String, ReplicaImage> decode() {
        Map<String, ReplicaImage> images = new LinkedHashMap<>();
        content.forEach((volume, bytes) -> images.put(volume, ReplicaImage.of(history, volume, bytes)));
        return images;
    }
}
