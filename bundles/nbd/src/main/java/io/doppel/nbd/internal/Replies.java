package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.*;

import java.nio.charset.StandardCharsets;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** Builds the server's messages; every method returns a buffer the caller writes (and so releases). */
final class Replies {

    private Replies() {
    }

    static ByteBuf greeting(ByteBufAllocator alloc) {
        return alloc.buffer(18).writeLong(NBDMAGIC).writeLong(IHAVEOPT)
                .writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    }

    /** An option reply without data. */
    static ByteBuf option(ByteBufAllocator alloc, int option, int type) {
        return optionHeader(alloc, option, type, 0);
    }

    static ByteBuf optionHeader(ByteBufAllocator alloc, int option, int type, int length) {
        return alloc.buffer(20 + length).writeLong(OPTION_REPLY_MAGIC).writeInt(option).writeInt(type)
                .writeInt(length);
    }

    /** An error reply to an option, with a message for the user. */
    static ByteBuf optionError(ByteBufAllocator alloc, int option, int type, String message) {
        byte[] m = utf8(message);
        return optionHeader(alloc, option, type, m.length).writeBytes(m);
    }

    static ByteBuf server(ByteBufAllocator alloc, int option, String name, String description) {
        byte[] n = utf8(name);
        byte[] d = utf8(description);
        return optionHeader(alloc, option, REP_SERVER, 4 + n.length + d.length).writeInt(n.length).writeBytes(n)
                .writeBytes(d);
    }

    static ByteBuf infoExport(ByteBufAllocator alloc, int option, long size, int flags) {
        return optionHeader(alloc, option, REP_INFO, 12).writeShort(INFO_EXPORT).writeLong(size).writeShort(flags);
    }

    /** NBD_INFO_NAME or NBD_INFO_DESCRIPTION. */
    static ByteBuf infoString(ByteBufAllocator alloc, int option, int infoType, String text) {
        byte[] t = utf8(text);
        return optionHeader(alloc, option, REP_INFO, 2 + t.length).writeShort(infoType).writeBytes(t);
    }

    static ByteBuf infoBlockSize(ByteBufAllocator alloc, int option) {
        return optionHeader(alloc, option, REP_INFO, 14).writeShort(INFO_BLOCK_SIZE).writeInt(MIN_BLOCK)
                .writeInt(PREFERRED_BLOCK).writeInt(MAX_PAYLOAD);
    }

    static ByteBuf metaContext(ByteBufAllocator alloc, int option, int id, String name) {
        byte[] n = utf8(name);
        return optionHeader(alloc, option, REP_META_CONTEXT, 4 + n.length).writeInt(id).writeBytes(n);
    }

    /** The reply to NBD_OPT_EXPORT_NAME: size, flags and, unless the client asked not to, 124 zeroes. */
    static ByteBuf exportName(ByteBufAllocator alloc, long size, int flags, boolean noZeroes) {
        ByteBuf b = alloc.buffer(noZeroes ? 10 : 134).writeLong(size).writeShort(flags);
        if (!noZeroes) {
            b.writeZero(124);
        }
        return b;
    }

    static ByteBuf simple(ByteBufAllocator alloc, int error, long cookie) {
        return writeSimpleHeader(alloc.buffer(SIMPLE_REPLY_HEADER), error, cookie);
    }

    static ByteBuf writeSimpleHeader(ByteBuf b, int error, long cookie) {
        return b.writeInt(SIMPLE_REPLY_MAGIC).writeInt(error).writeLong(cookie);
    }

    static ByteBuf writeChunkHeader(ByteBuf b, int flags, int type, long cookie, int length) {
        return b.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(flags).writeShort(type).writeLong(cookie)
                .writeInt(length);
    }

    /** A final NBD_REPLY_TYPE_NONE chunk: success of a command without data. */
    static ByteBuf none(ByteBufAllocator alloc, long cookie) {
        return writeChunkHeader(alloc.buffer(STRUCTURED_REPLY_HEADER), REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0);
    }

    /** A final NBD_REPLY_TYPE_ERROR chunk carrying a message for the user. */
    static ByteBuf errorChunk(ByteBufAllocator alloc, long cookie, int error, String message) {
        byte[] m = utf8(message);
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER + 6 + m.length);
        return writeChunkHeader(b, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, 6 + m.length).writeInt(error)
                .writeShort(m.length).writeBytes(m);
    }

    /** A final block status chunk: one extent of {@code length} bytes with the given flags. */
    static ByteBuf blockStatus(ByteBufAllocator alloc, long cookie, int contextId, long length, int flags) {
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER + 12);
        return writeChunkHeader(b, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, 12).writeInt(contextId)
                .writeInt((int) length).writeInt(flags);
    }

    /** UTF-8, cut to the protocol's string limit at a character boundary. */
    static byte[] utf8(String s) {
        String text = s == null ? "" : s;
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        while (b.length > MAX_STRING) {
            text = text.substring(0, text.length() - Math.max(1, (b.length - MAX_STRING) / 4));
            b = text.getBytes(StandardCharsets.UTF_8);
        }
        return b;
    }
}
