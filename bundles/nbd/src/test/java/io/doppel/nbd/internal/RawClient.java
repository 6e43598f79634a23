package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A byte-level NBD client for the tests: every message is written and read by hand. */
final class RawClient implements Closeable {

    record OptReply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }

        boolean isError() {
            return type < 0;
        }
    }

    record SimpleReply(int magic, int error, long cookie) {
    }

    record Chunk(int flags, int type, long cookie, byte[] payload) {
        ByteBuffer buffer() {
            return ByteBuffer.wrap(payload);
        }

        int errno() {
            return buffer().getInt();
        }

        String message() {
            ByteBuffer b = buffer();
            b.getInt();
            int len = Short.toUnsignedInt(b.getShort());
            return new String(payload, 6, len, StandardCharsets.UTF_8);
        }
    }

    /** What NBD_OPT_GO / NBD_OPT_EXPORT_NAME told about the export. */
    record Opened(long size, int flags) {
    }

    private final Socket socket;
    final DataInputStream in;
    final DataOutputStream out;

    RawClient(int port) throws IOException {
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
    }

    /** Reads the greeting and answers with client flags. */
    RawClient handshake(int clientFlags) throws IOException {
        assertThat(in.readLong()).isEqualTo(NBDMAGIC);
        assertThat(in.readLong()).isEqualTo(IHAVEOPT);
        assertThat(in.readUnsignedShort()).isEqualTo(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        out.writeInt(clientFlags);
        out.flush();
        return this;
    }

    RawClient handshake() throws IOException {
        return handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    }

    void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    OptReply readOptReply() throws IOException {
        assertThat(in.readLong()).isEqualTo(OPTION_REPLY_MAGIC);
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptReply(option, type, data);
    }

    /** Sends an option and reads replies up to the final one (ACK or an error). */
    List<OptReply> option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        List<OptReply> replies = new ArrayList<>();
        while (true) {
            OptReply r = readOptReply();
            assertThat(r.option()).isEqualTo(option);
            replies.add(r);
            if (r.type() == REP_ACK || r.isError()) {
                return replies;
            }
        }
    }

    OptReply last(List<OptReply> replies) {
        return replies.get(replies.size() - 1);
    }

    static byte[] infoData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    static byte[] metaData(String export, String... queries) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        int size = 4 + n.length + 4;
        for (String q : queries) {
            size += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** Full negotiation with NBD_OPT_GO; optionally structured replies and base:allocation. */
    Opened go(String export, boolean structured, boolean blockStatus) throws IOException {
        handshake();
        if (structured) {
            assertThat(last(option(OPT_STRUCTURED_REPLY, new byte[0])).type()).isEqualTo(REP_ACK);
        }
        if (blockStatus) {
            List<OptReply> r = option(OPT_SET_META_CONTEXT, metaData(export, META_BASE_ALLOCATION));
            assertThat(last(r).type()).isEqualTo(REP_ACK);
        }
        List<OptReply> replies = option(OPT_GO, infoData(export, INFO_BLOCK_SIZE));
        assertThat(last(replies).type()).as("GO of %s: %s", export, last(replies).text()).isEqualTo(REP_ACK);
        for (OptReply r : replies) {
            ByteBuffer b = ByteBuffer.wrap(r.data());
            if (r.type() == REP_INFO && b.getShort() == INFO_EXPORT) {
                return new Opened(b.getLong(), Short.toUnsignedInt(b.getShort()));
            }
        }
        throw new AssertionError("no NBD_INFO_EXPORT in the reply to NBD_OPT_GO");
    }

    void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
    }

    SimpleReply readSimple() throws IOException {
        return new SimpleReply(in.readInt(), in.readInt(), in.readLong());
    }

    Chunk readChunk() throws IOException {
        assertThat(in.readInt()).isEqualTo(STRUCTURED_REPLY_MAGIC);
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long cookie = in.readLong();
        byte[] payload = new byte[in.readInt()];
        in.readFully(payload);
        return new Chunk(flags, type, cookie, payload);
    }

    byte[] readBytes(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    /** Simple-reply write; returns the error. */
    int write(long cookie, long offset, byte[] data, int flags) throws IOException {
        request(flags, CMD_WRITE, cookie, offset, data.length, data);
        SimpleReply r = readSimple();
        assertThat(r.magic()).isEqualTo(SIMPLE_REPLY_MAGIC);
        assertThat(r.cookie()).isEqualTo(cookie);
        return r.error();
    }

    /** Simple-reply read of data that must succeed. */
    byte[] read(long cookie, long offset, int length) throws IOException {
        request(0, CMD_READ, cookie, offset, length, null);
        SimpleReply r = readSimple();
        assertThat(r.magic()).isEqualTo(SIMPLE_REPLY_MAGIC);
        assertThat(r.cookie()).isEqualTo(cookie);
        assertThat(r.error()).as("read error").isZero();
        return readBytes(length);
    }

    /** True if the server closes the connection (EOF or reset) within the socket timeout. */
    boolean closedByServer() throws IOException {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (EOFException | SocketException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
