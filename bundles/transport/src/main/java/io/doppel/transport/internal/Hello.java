package io.doppel.transport.internal;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The first frame each side sends after the TLS handshake. Its payload starts with the
 * transport protocol version, so that any later version can still be told apart and refused
 * with both version numbers. Version 1 goes on with: site id, site name, the fingerprint the
 * sender expects the receiver to have (each u16 length + UTF-8) and flags (u8; bit 0: the
 * sender has an address for the receiver and dials it).
 *
 * @param version             transport protocol version
 * @param siteId              the sender's site id
 * @param siteName            the sender's site name
 * @param expectedFingerprint the certificate fingerprint the sender pinned for the receiver
 * @param dials               whether the sender has an address for the receiver
 */
record Hello(int version, String siteId, String siteName, String expectedFingerprint, boolean dials) {

    static final int PROTOCOL_VERSION = 1;
    private static final int FLAG_DIALS = 1;

    ByteBuffer encode() {
        byte[] id = siteId.getBytes(StandardCharsets.UTF_8);
        byte[] name = siteName.getBytes(StandardCharsets.UTF_8);
        byte[] fp = expectedFingerprint.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(2 + 6 + id.length + name.length + fp.length + 1);
        b.putShort((short) version);
        for (byte[] s : new byte[][] {id, name, fp}) {
            b.putShort((short) s.length).put(s);
        }
        b.put((byte) (dials ? FLAG_DIALS : 0));
        return b.flip();
    }

    /** The protocol version of a HELLO payload, whatever version it is. */
    static int version(ByteBuffer payload) {
        if (payload.remaining() < 2) {
            throw new IllegalArgumentException("HELLO of " + payload.remaining() + " bytes has no protocol version");
        }
        return Short.toUnsignedInt(payload.getShort(payload.position()));
    }

    /** Decodes a version-1 HELLO. */
    static Hello decode(ByteBuffer payload) {
        ByteBuffer b = payload.duplicate();
        try {
            int version = Short.toUnsignedInt(b.getShort());
            String id = string(b);
            String name = string(b);
            String fp = string(b);
            boolean dials = (b.get() & FLAG_DIALS) != 0;
            return new Hello(version, id, name, fp, dials);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("HELLO of " + payload.remaining() + " bytes is truncated", e);
        }
    }

    private static String string(ByteBuffer b) {
        int len = Short.toUnsignedInt(b.getShort());
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
