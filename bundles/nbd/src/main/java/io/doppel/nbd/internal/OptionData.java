package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.MAX_STRING;
import static io.doppel.nbd.internal.NbdProtocol.optionName;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import io.netty.buffer.ByteBuf;

/** Parses the data of the options that carry some; a malformed one raises {@link InvalidOption}. */
final class OptionData {

    /** The option's data does not follow the protocol; the message says how. */
    static final class InvalidOption extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidOption(String message) {
            super(message);
        }
    }

    /** NBD_OPT_INFO / NBD_OPT_GO: an export name and the information types the client wants. */
    record InfoRequest(String name, List<Integer> infos) {
    }

    /** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: an export name and context queries. */
    record MetaRequest(String export, List<String> queries) {
    }

    private OptionData() {
    }

    static String exportName(ByteBuf data) throws InvalidOption {
        if (data.readableBytes() > MAX_STRING) {
            throw new InvalidOption("export name of " + data.readableBytes() + " bytes is longer than " + MAX_STRING);
        }
        return string(data, data.readableBytes(), "export name");
    }

    static InfoRequest info(int option, ByteBuf data) throws InvalidOption {
        int total = data.readableBytes();
        if (total < 6) {
            throw new InvalidOption(optionName(option) + " data of " + total + " bytes is too short: at least 6"
                    + " bytes are needed (name length, name, number of information requests)");
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > total - 6) {
            throw new InvalidOption(optionName(option) + ": export name length " + nameLength
                    + " exceeds the option data of " + total + " bytes");
        }
        String name = string(data, (int) nameLength, "export name");
        int count = data.readUnsignedShort();
        if (data.readableBytes() != 2 * count) {
            throw new InvalidOption(optionName(option) + ": " + count + " information requests need " + 2 * count
                    + " bytes, but " + data.readableBytes() + " follow");
        }
        List<Integer> infos = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            infos.add(data.readUnsignedShort());
        }
        return new InfoRequest(name, infos);
    }

    static MetaRequest meta(int option, ByteBuf data) throws InvalidOption {
        int total = data.readableBytes();
        if (total < 8) {
            throw new InvalidOption(optionName(option) + " data of " + total + " bytes is too short: at least 8"
                    + " bytes are needed (name length, name, number of queries)");
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > total - 8) {
            throw new InvalidOption(optionName(option) + ": export name length " + nameLength
                    + " exceeds the option data of " + total + " bytes");
        }
        String name = string(data, (int) nameLength, "export name");
        long count = data.readUnsignedInt();
        if (count > data.readableBytes() / 4) {
            throw new InvalidOption(optionName(option) + ": " + count + " queries cannot fit in the "
                    + data.readableBytes() + " bytes that follow");
        }
        List<String> queries = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            if (data.readableBytes() < 4) {
                throw new InvalidOption(optionName(option) + ": query " + (i + 1) + " of " + count
                        + " is missing");
            }
            long length = data.readUnsignedInt();
            if (length > data.readableBytes()) {
                throw new InvalidOption(optionName(option) + ": query " + (i + 1) + " length " + length
                        + " exceeds the " + data.readableBytes() + " bytes that follow");
            }
            queries.add(string(data, (int) length, "query"));
        }
        if (data.isReadable()) {
            throw new InvalidOption(optionName(option) + ": " + data.readableBytes()
                    + " bytes follow the last query");
        }
        return new MetaRequest(name, queries);
    }

    private static String string(ByteBuf data, int length, String what) throws InvalidOption {
        if (length > MAX_STRING) {
            throw new InvalidOption(what + " of " + length + " bytes is longer than " + MAX_STRING);
        }
        ByteBuffer bytes = data.nioBuffer(data.readerIndex(), length);
        data.skipBytes(length);
        String s;
        try {
            s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw new InvalidOption(what + " is not valid UTF-8");
        }
        if (s.indexOf('\0') >= 0) {
            throw new InvalidOption(what + " contains a NUL character");
        }
        return s;
    }
}
