package io.doppel.transport.internal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.zip.CRC32C;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;

/**
 * The frame format on the wire (inside TLS). Big endian:
 *
 * <pre>
 *  0  u32  magic "DPLF"
 *  4  u8   frame format version (1)
 *  5  u8   flags: 1 request (wants a reply), 2 reply, 4 error reply (payload = UTF-8 message)
 *  6  u16  type: below 100 the transport's own, from 100 the services'
 *  8  u64  request id (0 when none)
 * 16  u32  payload length
 * 20  u32  CRC32C of bytes 0..19 and the payload
 * 24       payload
 * </pre>
 */
final class Wire {

    static final int MAGIC = 0x44504C46; // "DPLF"
    static final int FORMAT_VERSION = 1;
    static final int HEADER_BYTES = 24;

    static final int FLAG_REQUEST = 1;
    static final int FLAG_REPLY = 2;
    static final int FLAG_ERROR = 4;

    /** Transport frame types. */
    static final int HELLO = 1;
    static final int PING = 2;
    static final int PONG = 3;
    /** The sender closes the connection; the payload says why (UTF-8). */
    static final int CLOSE = 4;

    static final int MAX_TYPE = 0xffff;

    private Wire() {
    }

    /** A decoded frame; the payload is a heap copy the receiver owns. */
    record WireFrame(int type, int flags, long id, ByteBuffer payload) {
        boolean is(int flag) {
            return (flags & flag) != 0;
        }

        int length() {
            return payload.remaining();
        }
    }

    /**
     * Emitted instead of a frame when the connection ended inside one: the bytes of the partial
     * frame are dropped, and the connection reports why it ended.
     */
    record Truncated(String message) {
    }

    /** A frame that cannot be read: the connection is closed with this message. */
    static final class FrameException extends DecoderException {
        private static final long serialVersionUID = 1L;

        FrameException(String message) {
            super(message);
        }
    }

    /** Encodes a frame, computing its CRC on the calling thread. */
    static ByteBuf encode(ByteBufAllocator alloc, int type, int flags, long id, ByteBuffer payload) {
        ByteBuffer body = payload.duplicate();
        int length = body.remaining();
        byte[] header = new byte[HEADER_BYTES];
        ByteBuffer h = ByteBuffer.wrap(header);
        h.putInt(MAGIC).put((byte) FORMAT_VERSION).put((byte) flags).putShort((short) type).putLong(id)
                .putInt(length);
        CRC32C crc = new CRC32C();
        crc.update(header, 0, 20);
        crc.update(body.duplicate());
        h.putInt((int) crc.getValue());
        ByteBuf out = alloc.buffer(HEADER_BYTES + length);
        out.writeBytes(header);
        out.writeBytes(body);
        return out;
    }

    static ByteBuffer utf8(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    static String string(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] bytes = new byte[d.remaining()];
        d.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** Splits the decrypted stream into frames, checking magic, version, length and CRC. */
    static final class Decoder extends ByteToMessageDecoder {
        private final long maxPayload;
        private boolean broken;

        Decoder(long maxPayload) {
            this.maxPayload = maxPayload;
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            if (broken) {
                in.skipBytes(in.readableBytes());
                return;
            }
            if (in.readableBytes() < HEADER_BYTES) {
                return;
            }
            int at = in.readerIndex();
            int magic = in.getInt(at);
            if (magic != MAGIC) {
                throw fail(String.format("bad frame magic 0x%08x, expected 0x%08x", magic, MAGIC));
            }
            int version = in.getUnsignedByte(at + 4);
            if (version != FORMAT_VERSION) {
                throw fail("frame format version " + version + "; this site reads version " + FORMAT_VERSION);
            }
            long length = in.getUnsignedInt(at + 16);
            if (length > maxPayload) {
                throw fail("frame payload of " + length + " bytes exceeds maxPayloadBytes " + maxPayload);
            }
            if (in.readableBytes() < HEADER_BYTES + length) {
                return;
            }
            int len = (int) length;
            CRC32C crc = new CRC32C();
            crc.update(in.nioBuffer(at, 20));
            if (len > 0) {
                crc.update(in.nioBuffer(at + HEADER_BYTES, len));
            }
            int expected = in.getInt(at + 20);
            int type = in.getUnsignedShort(at + 6);
            if ((int) crc.getValue() != expected) {
                throw fail(String.format("frame CRC32C mismatch: computed 0x%08x, header says 0x%08x"
                        + " (type %d, %d payload bytes)", (int) crc.getValue(), expected, type, len));
            }
            int flags = in.getUnsignedByte(at + 5);
            long id = in.getLong(at + 8);
            ByteBuffer payload = ByteBuffer.allocate(len);
            in.getBytes(at + HEADER_BYTES, payload);
            payload.flip();
            in.skipBytes(HEADER_BYTES + len);
            out.add(new WireFrame(type, flags, id, payload));
        }

        /** The connection ended: bytes still here are a frame that never completed. */
        @Override
        protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            if (broken || !in.isReadable()) {
                return;
            }
            int have = in.readableBytes();
            String m;
            if (have < HEADER_BYTES) {
                m = "truncated frame: the connection ended after " + have + " bytes of a " + HEADER_BYTES
                        + "-byte frame header";
            } else {
                int at = in.readerIndex();
                m = "truncated frame: the connection ended after " + (have - HEADER_BYTES) + " of "
                        + in.getUnsignedInt(at + 16) + " payload bytes of a frame of type "
                        + in.getUnsignedShort(at + 6);
            }
            in.skipBytes(have);
            out.add(new Truncated(m));
        }

        private FrameException fail(String message) {
            broken = true;
            return new FrameException(message);
        }
    }
}
