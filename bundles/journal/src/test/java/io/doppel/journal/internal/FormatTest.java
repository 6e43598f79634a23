package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class FormatTest {

    @Test
    void recordHeaderRoundTrip() {
        ByteBuffer h = ByteBuffer.allocateDirect(RecordFormat.HEADER_BYTES);
        RecordFormat.encode(h, new CRC32C(), RecordKind.WRITE.code(), 7, 3, 5, 123456789L, 4096, 8192, 1_700_000_000_000L, 0xCAFEBABE);
        RecordFormat.Header p = new RecordFormat.Header().parse(h, 0, new CRC32C());
        assertThat(p.crcOk).isTrue();
        assertThat(p.magic).isEqualTo(RecordFormat.MAGIC);
        assertThat(p.version).isEqualTo(RecordFormat.VERSION);
        assertThat(p.kindCode).isEqualTo(1);
        assertThat(p.groupId).isEqualTo(7);
        assertThat(p.volumeId).isEqualTo(3);
        assertThat(p.epoch).isEqualTo(5);
        assertThat(p.seq).isEqualTo(123456789L);
        assertThat(p.offset).isEqualTo(4096);
        assertThat(p.length).isEqualTo(8192);
        assertThat(p.time).isEqualTo(1_700_000_000_000L);
        assertThat(p.dataCrc).isEqualTo(0xCAFEBABE);
        assertThat(p.recordBytes()).isEqualTo(64 + 8192);

        h.put(30, (byte) (h.get(30) ^ 4));
        assertThat(new RecordFormat.Header().parse(h, 0, new CRC32C()).crcOk).as("a flipped bit fails the header CRC").isFalse();
    }

    @Test
    void recordsAreAlignedToEightBytes() {
        assertThat(RecordFormat.recordBytes(0)).isEqualTo(64);
        assertThat(RecordFormat.recordBytes(1)).isEqualTo(72);
        assertThat(RecordFormat.recordBytes(8)).isEqualTo(72);
        assertThat(RecordFormat.recordBytes(4096)).isEqualTo(4160);
    }

    @Test
    void segmentHeaderRoundTripAndUnknownVersion() throws IOException {
        SegmentFormat.SegmentHeader sh = new SegmentFormat.SegmentHeader(7, 42, 1000, 65536, 99);
        ByteBuffer b = SegmentFormat.encode(sh);
        assertThat(SegmentFormat.decode(b, "x")).isEqualTo(sh);

        ByteBuffer zeros = ByteBuffer.allocate(64);
        assertThat(SegmentFormat.decode(zeros, "x")).isNull();

        ByteBuffer v2 = SegmentFormat.encode(sh);
        v2.putShort(4, (short) 2);
        CRC32C crc = new CRC32C();
        crc.update(v2.array(), 0, 60);
        v2.putInt(60, (int) crc.getValue());
        assertThatThrownBy(() -> SegmentFormat.decode(v2, "seg-x"))
                .isInstanceOf(UnsupportedVersionException.class)
                .hasMessageContaining("version 2").hasMessageContaining("version 1").hasMessageContaining("seg-x");
    }

    @Test
    void segmentFileNames() {
        assertThat(Segment.fileName(26)).isEqualTo("segment-000000000000001a.seg");
        assertThat(Segment.parseIndex("segment-000000000000001a.seg")).isEqualTo(26);
        assertThat(Segment.parseIndex("segment-1a.seg")).isEqualTo(-1);
        assertThat(Segment.parseIndex("journal.meta")).isEqualTo(-1);
        assertThat(Segment.parseIndex("segment-00000000000000zz.seg")).isEqualTo(-1);
    }

    @Test
    void metaRoundTrip() throws IOException {
        JournalMeta m = new JournalMeta(7, true, new Position(2, 100), new Position(1, 40), 3,
                List.of(new EpochEntry(1, "local", 1, 0), new EpochEntry(2, "site-ä", 51, 50)),
                Map.of("peer-b", new Position(2, 90)));
        byte[] bytes = bytes(m.encode());
        assertThat(JournalMeta.decode(bytes, "m")).isEqualTo(m);

        bytes[20] ^= 1;
        assertThatThrownBy(() -> JournalMeta.decode(bytes, "m")).hasMessageContaining("CRC32C");
    }

    @Test
    void metaOfUnknownVersionIsRefusedNamingBothVersions() throws IOException {
        JournalMeta m = new JournalMeta(7, false, Position.ZERO, Position.ZERO, 0, List.of(new EpochEntry(1, "local", 1, 0)), Map.of());
        byte[] bytes = bytes(m.encode());
        bytes[5] = 9;
        assertThatThrownBy(() -> JournalMeta.decode(bytes, "/j/journal.meta"))
                .isInstanceOf(UnsupportedVersionException.class)
                .hasMessageContaining("/j/journal.meta").hasMessageContaining("version 9").hasMessageContaining("reads version 1");
    }

    @Test
    void openingAJournalWithMetaOfAnotherVersionFails() throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        Fixture.open(storage).close();
        byte[] bytes = storage.readAll(Fixture.dir().resolve(FileJournal.META));
        bytes[5] = 2;
        storage.writeAtomically(Fixture.dir().resolve(FileJournal.META), ByteBuffer.wrap(bytes));
        assertThatThrownBy(() -> Fixture.open(storage))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("version 2").hasMessageContaining("version 1");
    }

    @Test
    void recordOfUnknownVersionIsRefusedNotCut() throws IOException {
        SimulatedStorage storage = new SimulatedStorage();
        FileJournal j = Fixture.open(storage);
        j.append(RecordKind.FLUSH, 0, 0, 0, null);
        j.force(j.head());
        // an intact header of version 2 where record 1 is
        ByteBuffer h = ByteBuffer.allocate(64);
        RecordFormat.encode(h, new CRC32C(), RecordKind.FLUSH.code(), Fixture.GROUP_ID, 0, 1, 1, 0, 0, 0, 0);
        h.putShort(RecordFormat.OFF_VERSION, (short) 2);
        CRC32C crc = new CRC32C();
        crc.update(h.array(), 0, 60);
        h.putInt(60, (int) crc.getValue());
        storage.overwrite(Fixture.segment(0), SegmentFormat.HEADER_BYTES, h.array());
        assertThatThrownBy(() -> Fixture.open(storage))
                .isInstanceOf(UnsupportedVersionException.class)
                .hasMessageContaining("version 2").hasMessageContaining("reads version 1");
    }

    @Test
    void settingsRejectSegmentsTooSmallForTheLargestRecord() {
        assertThatThrownBy(() -> new JournalSettings(32L << 20, 1L << 30, 32 << 20, 1024, 4 << 20))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("segmentBytes = " + (32L << 20)).hasMessageContaining("at least " + ((32L << 20) + 128));
        assertThatThrownBy(() -> new JournalSettings(64L << 20, 100L << 20, 32 << 20, 1024, 4 << 20))
                .hasMessageContaining("capacityBytes");
        assertThat(JournalSettings.defaults().segmentBytes()).isEqualTo(64L << 20);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
