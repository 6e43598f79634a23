package io.doppel.nbd.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;

import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class ExportRegistryTest {

    private final SimulatedStorage storage = new SimulatedStorage();
    private final Path file = Paths.get("/karaf/doppel/nbd/exports");

    @Test
    void firstStartCreatesTheDefaultExportDurably() throws IOException {
        ExportRegistry r = new ExportRegistry(storage, file);
        r.load("vol0");
        assertThat(r.list()).containsExactly(new Export("vol0", "vol0", null, false, ""));
        // written atomically: it survives a power cut right away
        storage.simulatePowerCut(1);
        ExportRegistry again = new ExportRegistry(storage, file);
        again.load("other");
        assertThat(again.list()).extracting(Export::name).containsExactly("vol0");
    }

    @Test
    void anEmptyDefaultStartsWithNoExports() throws IOException {
        ExportRegistry r = new ExportRegistry(storage, file);
        r.load("");
        assertThat(r.list()).isEmpty();
        assertThat(storage.exists(file)).isTrue();
    }

    @Test
    void changesPersistAndReload() throws IOException {
        ExportRegistry r = new ExportRegistry(storage, file);
        r.load("vol0");
        r.add(new Export("snap", "vol0", "daily", false, "yesterday's image ✓"));
        r.add(new Export("ro", "vol1", null, true, ""));
        r.remove("vol0");
        assertThatThrownBy(() -> r.add(new Export("ro", "x", null, false, "")))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("export ro already exists");
        assertThatThrownBy(() -> r.remove("vol0"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("export vol0 does not exist");

        ExportRegistry again = new ExportRegistry(storage, file);
        again.load("vol0");
        assertThat(again.list()).containsExactly(new Export("ro", "vol1", null, true, ""),
                new Export("snap", "vol0", "daily", true, "yesterday's image ✓"));
    }

    @Test
    void anUnknownVersionIsRefusedNamingBothVersions() throws IOException {
        new ExportRegistry(storage, file).load("vol0");
        storage.overwrite(file, 4, new byte[] {0, 7});
        assertThatThrownBy(() -> new ExportRegistry(storage, file).load("vol0"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("format version 7").hasMessageContaining("reads version 1");
    }

    @Test
    void badMagicIsRefused() throws IOException {
        new ExportRegistry(storage, file).load("vol0");
        storage.overwrite(file, 0, new byte[] {'X'});
        assertThatThrownBy(() -> new ExportRegistry(storage, file).load("vol0"))
                .isInstanceOf(IOException.class).hasMessageContaining("is not an export registry");
    }

    @ParameterizedTest
    @ValueSource(ints = {6, 11, 14, 20, 27})
    void anyFlippedBitIsCaughtByTheChecksum(int offset) throws IOException {
        ExportRegistry r = new ExportRegistry(storage, file);
        r.load("vol0");
        r.add(new Export("export1", "volume1", null, false, "d"));
        storage.flipBit(file, offset, 3);
        assertThatThrownBy(() -> new ExportRegistry(storage, file).load("vol0"))
                .isInstanceOf(IOException.class).hasMessageContaining("CRC32C");
    }

    @Test
    void aTruncatedFileIsRefused() throws IOException {
        ExportRegistry r = new ExportRegistry(storage, file);
        r.load("vol0");
        storage.truncate(file, 9);
        assertThatThrownBy(() -> new ExportRegistry(storage, file).load("vol0"))
                .isInstanceOf(IOException.class).hasMessageContaining("truncated");
    }

    @Test
    void aCountThatOverrunsTheDataIsMalformedEvenWithAGoodChecksum() {
        ByteBuffer good = ExportRegistry.encode(java.util.List.of(new Export("a", "b", null, false, "")));
        byte[] bytes = new byte[good.remaining()];
        good.get(bytes);
        ByteBuffer.wrap(bytes).putInt(6, 2);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer.wrap(bytes).putInt(bytes.length - 4, (int) crc.getValue());
        assertThatThrownBy(() -> ExportRegistry.decode(file, bytes))
                .isInstanceOf(IOException.class).hasMessageContaining("malformed");
    }

    @Test
    void exportNamesAreChecked() {
        assertThatThrownBy(() -> new Export("bad name", "v", null, false, ""))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("export name 'bad name'");
        assertThatThrownBy(() -> new Export("ok", "../etc", null, false, ""))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("volume name '../etc'");
        assertThat(new Export("s", "v", "snap1", false, null).readOnly()).as("a snapshot is read-only").isTrue();
    }
}
