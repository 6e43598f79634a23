package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;

import io.doppel.transport.internal.Wire.FrameException;
import io.doppel.transport.internal.Wire.Truncated;
import io.doppel.transport.internal.Wire.WireFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The frame format and its decoder, without a network. */
class WireTest {

    private static final long MAX_PAYLOAD = 64 << 10;

    private final EmbeddedChannel channel = new EmbeddedChannel(new Wire.Decoder(MAX_PAYLOAD));

    @AfterEach
    void close() {
        channel.finishAndReleaseAll();
    }

    private static byte[] encode(int type, int flags, long id, byte[] payload) {
        ByteBuf buf = Wire.encode(UnpooledByteBufAllocator.DEFAULT, type, flags, id, ByteBuffer.wrap(payload));
        byte[] out = new byte[buf.readableBytes()];
        buf.readBytes(out);
        buf.release();
        return out;
    }

    /** Rewrites the CRC of an encoded frame after a test changed it on purpose. */
    private static void fixCrc(byte[] frame) {
        CRC32C crc = new CRC32C();
        crc.update(frame, 0, 20);
        crc.update(frame, Wire.HEADER_BYTES, frame.length - Wire.HEADER_BYTES);
        ByteBuffer.wrap(frame).putInt(20, (int) crc.getValue());
    }

    private List<Object> drain() {
        List<Object> out = new ArrayList<>();
        for (Object o = channel.readInbound(); o != null; o = channel.readInbound()) {
            out.add(o);
        }
        return out;
    }

    private static int sequence(Object frame) {
        return ((WireFrame) frame).payload().getInt(0);
    }

    @Test
    void theHeaderHoldsItsFieldsAtTheDocumentedOffsets() {
        byte[] payload = "replica".getBytes(StandardCharsets.UTF_8);
        byte[] f = encode(0x1234, Wire.FLAG_REQUEST, 0x0102030405060708L, payload);
        ByteBuffer b = ByteBuffer.wrap(f);
        assertThat(f).hasSize(Wire.HEADER_BYTES + payload.length);
        assertThat(new String(f, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("DPLF");
        assertThat(b.get(4)).isEqualTo((byte) 1);
        assertThat(b.get(5)).isEqualTo((byte) Wire.FLAG_REQUEST);
        assertThat(Short.toUnsignedInt(b.getShort(6))).isEqualTo(0x1234);
        assertThat(b.getLong(8)).isEqualTo(0x0102030405060708L);
        assertThat(b.getInt(16)).isEqualTo(payload.length);
        CRC32C crc = new CRC32C();
        crc.update(f, 0, 20);
        crc.update(payload);
        assertThat(b.getInt(20)).isEqualTo((int) crc.getValue());
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 20_260_101})
    void framesSplitAtAnyByteDecodeToTheSameFramesInOrder(long seed) {
        Random random = new Random(seed);
        List<byte[]> payloads = new ArrayList<>();
        ByteBuf stream = Unpooled.buffer();
        for (int i = 0; i < 60; i++) {
            byte[] p = new byte[random.nextInt(10) == 0 ? 0 : 4 + random.nextInt(3000)];
            random.nextBytes(p);
            if (p.length >= 4) {
                ByteBuffer.wrap(p).putInt(0, i);
            }
            payloads.add(p);
            stream.writeBytes(encode(100 + i, i % 3 == 0 ? Wire.FLAG_REQUEST : 0, i, p));
        }
        while (stream.isReadable()) {
            int n = Math.min(stream.readableBytes(), 1 + random.nextInt(random.nextBoolean() ? 30 : 5000));
            channel.writeInbound(stream.readRetainedSlice(n));
        }
        stream.release();
        List<Object> frames = drain();
        assertThat(frames).hasSize(payloads.size());
        for (int i = 0; i < frames.size(); i++) {
            WireFrame f = (WireFrame) frames.get(i);
            assertThat(f.type()).isEqualTo(100 + i);
            assertThat(f.id()).isEqualTo(i);
            assertThat(f.is(Wire.FLAG_REQUEST)).isEqualTo(i % 3 == 0);
            byte[] got = new byte[f.length()];
            f.payload().duplicate().get(got);
            assertThat(got).isEqualTo(payloads.get(i));
        }
        assertThat(channel.finish()).as("nothing left over at a clean end").isFalse();
    }

    @Test
    void badMagicFailsNamingBothValuesAfterTheGoodFramesBeforeIt() {
        ByteBuf in = Unpooled.buffer();
        for (int i = 0; i < 3; i++) {
            in.writeBytes(encode(100, 0, 0, ByteBuffer.allocate(4).putInt(0, i).array()));
        }
        byte[] garbage = new byte[40];
        java.util.Arrays.fill(garbage, (byte) 0x5a);
        in.writeBytes(garbage);
        in.writeBytes(encode(100, 0, 0, ByteBuffer.allocate(4).putInt(0, 3).array()));

        assertThatThrownBy(() -> channel.writeInbound(in)).isInstanceOf(FrameException.class)
                .hasMessage("bad frame magic 0x5a5a5a5a, expected 0x44504c46");
        // the frames before the garbage came out once, in order; the good frame behind it did not
        assertThat(drain()).extracting(WireTest::sequence).containsExactly(0, 1, 2);
        // and the decoder stays shut: a later good frame is dropped too
        channel.writeInbound(Unpooled.wrappedBuffer(encode(100, 0, 0, new byte[4])));
        assertThat(drain()).isEmpty();
    }

    @Test
    void anUnknownFormatVersionIsRefusedNamingBothVersions() {
        byte[] f = encode(100, 0, 0, new byte[8]);
        f[4] = 2;
        fixCrc(f);
        assertThatThrownBy(() -> channel.writeInbound(Unpooled.wrappedBuffer(f)))
                .isInstanceOf(FrameException.class).hasMessage("frame format version 2; this site reads version 1");
        assertThat(drain()).isEmpty();
    }

    @Test
    void anOversizedPayloadIsRefusedFromItsHeaderAlone() {
        byte[] header = new byte[Wire.HEADER_BYTES];
        ByteBuffer.wrap(header).putInt(Wire.MAGIC).put((byte) 1).put((byte) 0).putShort((short) 100).putLong(0)
                .putInt((int) MAX_PAYLOAD + 1);
        // refused before a byte of the payload is buffered
        assertThatThrownBy(() -> channel.writeInbound(Unpooled.wrappedBuffer(header)))
                .isInstanceOf(FrameException.class)
                .hasMessage("frame payload of " + (MAX_PAYLOAD + 1) + " bytes exceeds maxPayloadBytes " + MAX_PAYLOAD);
    }

    @Test
    void aFlippedBitInThePayloadOrTheHeaderFailsTheCrc() {
        byte[] f = encode(300, 0, 7, "0123456789".getBytes(StandardCharsets.US_ASCII));
        byte[] payloadFlip = f.clone();
        payloadFlip[Wire.HEADER_BYTES + 3] ^= 0x10;
        assertThatThrownBy(() -> channel.writeInbound(Unpooled.wrappedBuffer(payloadFlip)))
                .isInstanceOf(FrameException.class).hasMessageStartingWith("frame CRC32C mismatch: computed 0x")
                .hasMessageEndingWith("(type 300, 10 payload bytes)");

        EmbeddedChannel other = new EmbeddedChannel(new Wire.Decoder(MAX_PAYLOAD));
        byte[] idFlip = f.clone();
        idFlip[15] ^= 0x01; // the request id: covered by the CRC as well
        assertThatThrownBy(() -> other.writeInbound(Unpooled.wrappedBuffer(idFlip)))
                .isInstanceOf(FrameException.class).hasMessageContaining("CRC32C mismatch");
        other.finishAndReleaseAll();

        // negative control: the same bytes unflipped decode
        EmbeddedChannel clean = new EmbeddedChannel(new Wire.Decoder(MAX_PAYLOAD));
        clean.writeInbound(Unpooled.wrappedBuffer(f));
        assertThat((Object) clean.readInbound()).isInstanceOf(WireFrame.class);
        clean.finishAndReleaseAll();
    }

    @Test
    void aConnectionEndingInsideAFrameReportsATruncatedFrame() {
        byte[] whole = encode(300, 0, 0, new byte[1000]);
        ByteBuf in = Unpooled.buffer();
        in.writeBytes(encode(300, 0, 0, ByteBuffer.allocate(4).putInt(0, 0).array()));
        in.writeBytes(whole, 0, Wire.HEADER_BYTES + 10);
        channel.writeInbound(in);
        assertThat(drain()).extracting(WireTest::sequence).containsExactly(0);

        assertThat(channel.finish()).isTrue();
        assertThat(drain()).singleElement().isEqualTo(new Truncated(
                "truncated frame: the connection ended after 10 of 1000 payload bytes of a frame of type 300"));
    }

    @Test
    void aConnectionEndingInsideAHeaderReportsATruncatedFrame() {
        channel.writeInbound(Unpooled.wrappedBuffer(encode(300, 0, 0, new byte[4]), 0, 7));
        assertThat(channel.finish()).isTrue();
        assertThat(drain()).singleElement().isEqualTo(new Truncated(
                "truncated frame: the connection ended after 7 bytes of a 24-byte frame header"));
    }
}
