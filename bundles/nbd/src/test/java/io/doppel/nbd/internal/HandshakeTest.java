package io.doppel.nbd.internal;

import static io.doppel.nbd.internal.NbdProtocol.*;
import static io.doppel.nbd.internal.ServerFixture.MIB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import io.doppel.nbd.internal.RawClient.OptReply;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The handshake and every option, byte by byte. */
class HandshakeTest {

    private ServerFixture fx;

    @BeforeEach
    void start() throws IOException {
        MemoryDeviceProvider devices = new MemoryDeviceProvider().volume("vol0", 4 * MIB).volume("data", MIB)
                .snapshot("vol0", "s1");
        fx = new ServerFixture(devices)
                .export("data", "data", null, false, "the data volume")
                .export("ro", "data", null, true, "")
                .export("snap", "vol0", "s1", false, "a snapshot")
                .export("ghost", "ghost", null, false, "");
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    @Test
    void listNamesEveryExportWithItsDescription() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            List<OptReply> replies = c.option(OPT_LIST, new byte[0]);
            assertThat(c.last(replies).type()).isEqualTo(REP_ACK);
            List<String> servers = replies.stream().filter(r -> r.type() == REP_SERVER).map(r -> {
                ByteBuffer b = ByteBuffer.wrap(r.data());
                int len = b.getInt();
                return new String(r.data(), 4, len, StandardCharsets.UTF_8) + "|"
                        + new String(r.data(), 4 + len, r.data().length - 4 - len, StandardCharsets.UTF_8);
            }).toList();
            assertThat(servers).containsExactly("data|the data volume", "ghost|", "ro|", "snap|a snapshot",
                    "vol0|");

            OptReply withData = c.last(c.option(OPT_LIST, new byte[] {1}));
            assertThat(withData.type()).isEqualTo(REP_ERR_INVALID);
            assertThat(withData.text()).contains("takes no data");
        }
    }

    @Test
    void abortIsAcknowledgedThenClosed() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            assertThat(c.last(c.option(OPT_ABORT, new byte[0])).type()).isEqualTo(REP_ACK);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void startTlsIsRefusedByPolicy() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            OptReply r = c.last(c.option(OPT_STARTTLS, new byte[0]));
            assertThat(r.type()).isEqualTo(REP_ERR_POLICY);
            assertThat(r.text()).isEqualTo("TLS is not configured");
        }
    }

    @Test
    void unknownOptionIsUnsupportedAndTheConnectionGoesOn() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            OptReply r = c.last(c.option(42, new byte[] {1, 2, 3}));
            assertThat(r.type()).isEqualTo(REP_ERR_UNSUP);
            assertThat(r.text()).isEqualTo("option 42 is not supported");
            OptReply peek = c.last(c.option(4, new byte[0]));
            assertThat(peek.text()).isEqualTo("option 4 (NBD_OPT_PEEK_EXPORT) is not supported");
            assertThat(c.last(c.option(OPT_LIST, new byte[0])).type()).isEqualTo(REP_ACK);
        }
    }

    @Test
    void infoSendsExportAndBlockSizeAndWhatWasAskedFor() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            List<OptReply> plain = c.option(OPT_INFO, RawClient.infoData("data"));
            assertThat(c.last(plain).type()).isEqualTo(REP_ACK);
            assertThat(infoTypes(plain)).containsExactly(INFO_EXPORT, INFO_BLOCK_SIZE);
            ByteBuffer export = info(plain, INFO_EXPORT);
            assertThat(export.getLong()).isEqualTo(MIB);
            int flags = Short.toUnsignedInt(export.getShort());
            assertThat(flags & FLAG_SEND_DF).as("DF without structured replies").isZero();
            ByteBuffer bs = info(plain, INFO_BLOCK_SIZE);
            assertThat(new int[] {bs.getInt(), bs.getInt(), bs.getInt()}).containsExactly(1, 4096, 32 * MIB);

            List<OptReply> asked = c.option(OPT_INFO, RawClient.infoData("data", INFO_NAME, INFO_DESCRIPTION, 99));
            assertThat(infoTypes(asked)).containsExactlyInAnyOrder(INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION,
                    INFO_BLOCK_SIZE);
            assertThat(text(info(asked, INFO_NAME))).isEqualTo("data");
            assertThat(text(info(asked, INFO_DESCRIPTION))).isEqualTo("the data volume");
        }
        // NBD_OPT_INFO opens the device only to learn its size
        await().atMost(Duration.ofSeconds(5)).until(() -> fx.devices.openDevices.get() == 0);
    }

    @Test
    void defaultExportAnswersTheEmptyNameWithItsCanonicalName() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            List<OptReply> r = c.option(OPT_GO, RawClient.infoData(""));
            assertThat(c.last(r).type()).isEqualTo(REP_ACK);
            assertThat(text(info(r, INFO_NAME))).isEqualTo("vol0");
            assertThat(info(r, INFO_EXPORT).getLong()).isEqualTo(4 * MIB);
        }
    }

    @Test
    void goToAnUnknownExportOrAMissingVolumeIsAnErrorNamingIt() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            OptReply unknown = c.last(c.option(OPT_GO, RawClient.infoData("nosuch")));
            assertThat(unknown.type()).isEqualTo(REP_ERR_UNKNOWN);
            assertThat(unknown.text()).isEqualTo("export 'nosuch' does not exist");

            OptReply ghost = c.last(c.option(OPT_GO, RawClient.infoData("ghost")));
            assertThat(ghost.type()).isEqualTo(REP_ERR_UNKNOWN);
            assertThat(ghost.text()).isEqualTo("volume ghost does not exist");

            // still negotiating: a good export works on the same connection
            List<OptReply> ok = c.option(OPT_GO, RawClient.infoData("data"));
            assertThat(c.last(ok).type()).isEqualTo(REP_ACK);
            assertThat(c.read(1, 0, 16)).hasSize(16);
        }
    }

    @Test
    void malformedInfoAndGoDataAreInvalid() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            OptReply empty = c.last(c.option(OPT_GO, new byte[0]));
            assertThat(empty.type()).isEqualTo(REP_ERR_INVALID);
            assertThat(empty.text()).contains("NBD_OPT_GO data of 0 bytes is too short");

            byte[] badLength = ByteBuffer.allocate(10).putInt(100).put("data".getBytes(StandardCharsets.US_ASCII))
                    .putShort((short) 0).array();
            OptReply r = c.last(c.option(OPT_INFO, badLength));
            assertThat(r.type()).isEqualTo(REP_ERR_INVALID);
            assertThat(r.text()).contains("export name length 100 exceeds");

            byte[] oddInfos = ByteBuffer.allocate(11).putInt(4).put("data".getBytes(StandardCharsets.US_ASCII))
                    .putShort((short) 1).put((byte) 0).array();
            assertThat(c.last(c.option(OPT_INFO, oddInfos)).text()).contains("1 information requests need 2 bytes");

            OptReply meta = c.last(c.option(OPT_LIST_META_CONTEXT, new byte[3]));
            assertThat(meta.type()).isEqualTo(REP_ERR_INVALID);

            OptReply structured = c.last(c.option(OPT_STRUCTURED_REPLY, new byte[2]));
            assertThat(structured.type()).isEqualTo(REP_ERR_INVALID);
            // nothing broke
            assertThat(c.last(c.option(OPT_GO, RawClient.infoData("data"))).type()).isEqualTo(REP_ACK);
        }
    }

    @Test
    void oversizedOptionDataIsTooBigAndCloses() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            c.out.writeLong(IHAVEOPT);
            c.out.writeInt(OPT_INFO);
            c.out.writeInt(MAX_OPTION_DATA + 1);
            c.out.flush();
            OptReply r = c.readOptReply();
            assertThat(r.type()).isEqualTo(REP_ERR_TOO_BIG);
            assertThat(r.text()).contains("65537 bytes");
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void unknownClientFlagsOrNoFixedNewstyleClose() throws IOException {
        try (RawClient c = fx.client().handshake(FLAG_C_FIXED_NEWSTYLE | 0x10)) {
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawClient c = fx.client().handshake(0)) {
            assertThat(c.closedByServer()).isTrue();
        }
        // negative control: the right flags keep the connection open
        try (RawClient c = fx.client().handshake()) {
            assertThat(c.last(c.option(OPT_LIST, new byte[0])).type()).isEqualTo(REP_ACK);
        }
    }

    @Test
    void badOptionMagicCloses() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            c.out.writeLong(0x1122334455667788L);
            c.out.writeInt(OPT_LIST);
            c.out.writeInt(0);
            c.out.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void exportNameRepliesWithSizeFlagsAndZeroesUnlessRefused() throws IOException {
        try (RawClient c = fx.client().handshake(FLAG_C_FIXED_NEWSTYLE)) {
            c.sendOption(OPT_EXPORT_NAME, "data".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).isEqualTo(MIB);
            int flags = c.in.readUnsignedShort();
            assertThat(flags & FLAG_HAS_FLAGS).isNotZero();
            assertThat(c.readBytes(124)).containsOnly(0);
            assertThat(c.read(1, 0, 8)).hasSize(8);
        }
        try (RawClient c = fx.client().handshake()) {
            c.sendOption(OPT_EXPORT_NAME, "data".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).isEqualTo(MIB);
            c.in.readUnsignedShort();
            // no zeroes: the next bytes are the reply to this read
            assertThat(c.read(7, 0, 8)).hasSize(8);
        }
    }

    @Test
    void exportNameOfAnUnknownExportCloses() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            c.sendOption(OPT_EXPORT_NAME, "nosuch".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
        assertServerStillServes();
    }

    @Test
    void transmissionFlagsFollowTheExportAndTheNegotiation() throws IOException {
        int writeFlags = FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES;
        try (RawClient c = fx.client()) {
            int flags = c.go("data", false, false).flags();
            assertThat(flags & (FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_CAN_MULTI_CONN | writeFlags))
                    .isEqualTo(FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_CAN_MULTI_CONN | writeFlags);
            assertThat(flags & (FLAG_READ_ONLY | FLAG_SEND_DF)).isZero();
        }
        try (RawClient c = fx.client()) {
            assertThat(c.go("data", true, false).flags() & FLAG_SEND_DF).isEqualTo(FLAG_SEND_DF);
        }
        for (String ro : List.of("ro", "snap")) {
            try (RawClient c = fx.client()) {
                int flags = c.go(ro, false, false).flags();
                assertThat(flags & FLAG_READ_ONLY).as(ro).isEqualTo(FLAG_READ_ONLY);
                assertThat(flags & writeFlags).as(ro).isZero();
            }
        }
    }

    @Test
    void metaContextsListAndSelectBaseAllocation() throws IOException {
        try (RawClient c = fx.client().handshake()) {
            OptReply early = c.last(c.option(OPT_SET_META_CONTEXT, RawClient.metaData("data",
                    META_BASE_ALLOCATION)));
            assertThat(early.type()).isEqualTo(REP_ERR_INVALID);
            assertThat(early.text()).contains("NBD_OPT_STRUCTURED_REPLY first");

            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(contexts(c.option(OPT_LIST_META_CONTEXT, RawClient.metaData("data"))))
                    .containsExactly("0:base:allocation");
            assertThat(contexts(c.option(OPT_LIST_META_CONTEXT, RawClient.metaData("data", "base:"))))
                    .containsExactly("0:base:allocation");
            assertThat(contexts(c.option(OPT_LIST_META_CONTEXT, RawClient.metaData("data", "qemu:dirty-bitmap:x"))))
                    .isEmpty();
            assertThat(contexts(c.option(OPT_SET_META_CONTEXT, RawClient.metaData("data", "base:"))))
                    .as("base: selects nothing").isEmpty();
            assertThat(contexts(c.option(OPT_SET_META_CONTEXT, RawClient.metaData("data", "qemu:x",
                    META_BASE_ALLOCATION)))).containsExactly(META_BASE_ALLOCATION_ID + ":base:allocation");

            OptReply noColon = c.last(c.option(OPT_LIST_META_CONTEXT, RawClient.metaData("data", "nocolon")));
            assertThat(noColon.type()).isEqualTo(REP_ERR_INVALID);
            OptReply unknown = c.last(c.option(OPT_SET_META_CONTEXT, RawClient.metaData("nosuch",
                    META_BASE_ALLOCATION)));
            assertThat(unknown.type()).isEqualTo(REP_ERR_UNKNOWN);
            assertThat(unknown.text()).contains("nosuch");
        }
    }

    @Test
    void optionsArriveOneByteAtATime() throws IOException {
        try (RawClient c = fx.client()) {
            assertThat(c.in.readLong()).isEqualTo(NBDMAGIC);
            c.readBytes(10);
            byte[] go = RawClient.infoData("data");
            ByteBuffer all = ByteBuffer.allocate(4 + 16 + 16 + go.length);
            all.putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            all.putLong(IHAVEOPT).putInt(OPT_STRUCTURED_REPLY).putInt(0);
            all.putLong(IHAVEOPT).putInt(OPT_GO).putInt(go.length).put(go);
            for (byte b : all.array()) {
                c.out.write(b);
                c.out.flush();
            }
            assertThat(c.readOptReply().type()).isEqualTo(REP_ACK);
            OptReply r;
            do {
                r = c.readOptReply();
            } while (r.type() == REP_INFO);
            assertThat(r.type()).isEqualTo(REP_ACK);

            // a request split into single bytes too
            byte[] payload = "fragmented".getBytes(StandardCharsets.US_ASCII);
            ByteBuffer req = ByteBuffer.allocate(28 + payload.length).putInt(REQUEST_MAGIC).putShort((short) 0)
                    .putShort((short) CMD_WRITE).putLong(5).putLong(100).putInt(payload.length).put(payload);
            for (byte b : req.array()) {
                c.out.write(b);
                c.out.flush();
            }
            RawClient.Chunk done = c.readChunk();
            assertThat(done.type()).isEqualTo(REPLY_TYPE_NONE);
            assertThat(done.cookie()).isEqualTo(5);
        }
        assertThat(new String(fx.devices.data("data"), 100, 10, StandardCharsets.US_ASCII)).isEqualTo("fragmented");
    }

    private void assertServerStillServes() throws IOException {
        try (RawClient c = fx.client()) {
            c.go("data", false, false);
            assertThat(c.read(99, 0, 512)).hasSize(512);
        }
    }

    private static List<Integer> infoTypes(List<OptReply> replies) {
        return replies.stream().filter(r -> r.type() == REP_INFO)
                .map(r -> (int) ByteBuffer.wrap(r.data()).getShort()).toList();
    }

    private static ByteBuffer info(List<OptReply> replies, int type) {
        for (OptReply r : replies) {
            ByteBuffer b = ByteBuffer.wrap(r.data());
            if (r.type() == REP_INFO && b.getShort() == type) {
                return b;
            }
        }
        throw new AssertionError("no info " + type);
    }

    private static String text(ByteBuffer b) {
        byte[] s = new byte[b.remaining()];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static List<String> contexts(List<OptReply> replies) {
        assertThat(replies.get(replies.size() - 1).type()).isEqualTo(REP_ACK);
        return replies.stream().filter(r -> r.type() == REP_META_CONTEXT).map(r -> {
            ByteBuffer b = ByteBuffer.wrap(r.data());
            int id = b.getInt();
            return id + ":" + text(b);
        }).toList();
    }
}
