package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;

import io.doppel.itests.tools.BlockPattern.Header;
import io.doppel.itests.tools.BlockPattern.Kind;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class BlockPatternTest {

    private static final Header HEADER = new Header(3, BlockPattern.volumeHash("vol3"), 0x1234_5678_9abcL, 77, 4242);

    @Test
    void aBlockDecodesToTheHeaderItWasMadeWith() {
        byte[] block = BlockPattern.block(HEADER);

        BlockPattern.Content content = BlockPattern.read(block, 0);

        assertThat(content.kind()).isEqualTo(Kind.VALID);
        assertThat(content.header()).isEqualTo(HEADER);
        assertThat(ByteBuffer.wrap(block).getInt()).isEqualTo(BlockPattern.MAGIC);
    }

    @Test
    void contentIsAFunctionOfWriteAndBlockOnly() {
        assertThat(BlockPattern.block(HEADER)).isEqualTo(BlockPattern.block(HEADER));
        byte[] otherWrite = BlockPattern.block(new Header(3, HEADER.volumeHash(), HEADER.runId(), 77, 4243));
        byte[] otherBlock = BlockPattern.block(new Header(3, HEADER.volumeHash(), HEADER.runId(), 78, 4242));
        assertThat(filler(otherWrite)).isNotEqualTo(filler(BlockPattern.block(HEADER)));
        assertThat(filler(otherBlock)).isNotEqualTo(filler(BlockPattern.block(HEADER)));
    }

    @Test
    void blocksAreDecodedAtAnOffsetInALargerBuffer() {
        byte[] buffer = new byte[3 * BlockPattern.BLOCK_SIZE];
        BlockPattern.write(HEADER, buffer, BlockPattern.BLOCK_SIZE);

        assertThat(BlockPattern.read(buffer, 0).kind()).isEqualTo(Kind.ZERO);
        assertThat(BlockPattern.read(buffer, BlockPattern.BLOCK_SIZE).header()).isEqualTo(HEADER);
        assertThat(BlockPattern.read(buffer, 2 * BlockPattern.BLOCK_SIZE).kind()).isEqualTo(Kind.ZERO);
    }

    @Test
    void aFlippedBitIsTorn() {
        for (int position : new int[] {5, 20, 1000, 4095}) {
            byte[] block = BlockPattern.block(HEADER);
            block[position] ^= 0x10;

            BlockPattern.Content content = BlockPattern.read(block, 0);

            assertThat(content.kind()).as("bit flipped at %d", position).isEqualTo(Kind.TORN);
            assertThat(content.detail()).contains("CRC32C mismatch");
        }
    }

    @Test
    void halvesOfTwoWritesAreTorn() {
        byte[] first = BlockPattern.block(HEADER);
        byte[] second = BlockPattern.block(new Header(3, HEADER.volumeHash(), HEADER.runId(), 77, 9999));
        System.arraycopy(second, 2048, first, 2048, 2048);

        assertThat(BlockPattern.read(first, 0).kind()).isEqualTo(Kind.TORN);
    }

    @Test
    void aPartlyZeroedBlockOrForeignDataIsTorn() {
        byte[] block = BlockPattern.block(HEADER);
        Arrays.fill(block, 0, 512, (byte) 0);
        assertThat(BlockPattern.read(block, 0)).satisfies(c -> {
            assertThat(c.kind()).isEqualTo(Kind.TORN);
            assertThat(c.detail()).contains("no block header");
        });

        byte[] garbage = new byte[BlockPattern.BLOCK_SIZE];
        Arrays.fill(garbage, (byte) 0xab);
        assertThat(BlockPattern.read(garbage, 0).kind()).isEqualTo(Kind.TORN);
    }

    @Test
    void aValidCrcDoesNotHideAWrongFiller() {
        byte[] block = BlockPattern.block(HEADER);
        block[100] ^= 1;
        rewriteCrc(block);

        assertThat(BlockPattern.read(block, 0)).satisfies(c -> {
            assertThat(c.kind()).isEqualTo(Kind.TORN);
            assertThat(c.detail()).contains("filler");
        });
    }

    @Test
    void anUnknownVersionIsRefusedNamingBothVersions() {
        byte[] block = BlockPattern.block(HEADER);
        ByteBuffer.wrap(block).putShort(4, (short) 2);
        rewriteCrc(block);

        BlockPattern.Content content = BlockPattern.read(block, 0);

        assertThat(content.kind()).isEqualTo(Kind.TORN);
        assertThat(content.detail()).contains("version 2").contains("version 1");
    }

    private static void rewriteCrc(byte[] block) {
        CRC32C crc = new CRC32C();
        crc.update(block, 0, 4092);
        ByteBuffer.wrap(block).putInt(4092, (int) crc.getValue());
    }

    private static byte[] filler(byte[] block) {
        return Arrays.copyOfRange(block, 36, 4092);
    }
}
