package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeerRegistryTest {

    private static final String FP_B = Fingerprints.normalize("0B".repeat(32));
    private static final String FP_C = Fingerprints.normalize("0C".repeat(32));

    @TempDir
    Path tmp;

    private PeerRegistry registry() throws IOException {
        PeerRegistry r = new PeerRegistry(new FileStorage(), tmp.resolve("tls/peers"));
        r.load();
        return r;
    }

    @Test
    void peersSurviveARestartAndChangesReplaceTheFileWhole() throws IOException {
        PeerRegistry r = registry();
        assertThat(r.list()).isEmpty();
        assertThat(Files.exists(r.file())).as("written at the first change only").isFalse();
        r.add(new PeerEntry("b", "site-b.example.com:10810", FP_B, ""));
        r.add(new PeerEntry("c", "", FP_C, ""));
        assertThat(r.updateSiteId("b", "site-b-id")).isTrue();
        assertThat(r.updateSiteId("b", "site-b-id")).as("unchanged").isFalse();
        assertThat(r.updateSiteId("gone", "x")).isFalse();

        PeerRegistry again = registry();
        assertThat(again.list()).containsExactly(new PeerEntry("b", "site-b.example.com:10810", FP_B, "site-b-id"),
                new PeerEntry("c", "", FP_C, ""));
        assertThat(again.byFingerprint(FP_C)).map(PeerEntry::name).contains("c");

        again.remove("b");
        assertThat(registry().list()).extracting(PeerEntry::name).containsExactly("c");
    }

    @Test
    void aNameOrAFingerprintInUseIsRefused() throws IOException {
        PeerRegistry r = registry();
        r.add(new PeerEntry("b", "", FP_B, ""));
        assertThatThrownBy(() -> r.add(new PeerEntry("b", "", FP_C, ""))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("peer b already exists; remove it first (doppel:peer-remove b)");
        assertThatThrownBy(() -> r.add(new PeerEntry("b2", "", FP_B, ""))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("fingerprint " + FP_B + " already belongs to peer b");
        assertThatThrownBy(() -> r.remove("x")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("peer x does not exist");
    }

    private Path written() throws IOException {
        PeerRegistry r = registry();
        r.add(new PeerEntry("b", "10.0.0.2:10810", FP_B, "id-b"));
        return r.file();
    }

    @Test
    void aDamagedRegistryIsRefusedNamingTheFileAndTheDamage() throws IOException {
        Path file = written();
        byte[] data = Files.readAllBytes(file);
        data[20] ^= 0x04;
        Files.write(file, data);
        assertThatThrownBy(this::registry).isInstanceOf(IOException.class)
                .hasMessageStartingWith("peer registry " + file + " is damaged: CRC32C 0x");
    }

    @Test
    void anUnknownFormatVersionIsRefusedNamingBothVersions() throws IOException {
        Path file = written();
        byte[] data = Files.readAllBytes(file);
        ByteBuffer.wrap(data).putShort(4, (short) 2);
        CRC32C crc = new CRC32C();
        crc.update(data, 0, data.length - 4);
        ByteBuffer.wrap(data).putInt(data.length - 4, (int) crc.getValue());
        Files.write(file, data);
        assertThatThrownBy(this::registry).isInstanceOf(IOException.class)
                .hasMessage("peer registry " + file + " has format version 2; this bundle reads version 1");
    }

    @Test
    void anotherFileOrATruncatedOneIsRefused() throws IOException {
        Path file = written();
        Files.writeString(file, "# not a registry, but long enough");
        assertThatThrownBy(this::registry).isInstanceOf(IOException.class)
                .hasMessage(file + " is not a peer registry: magic 0x23206e6f, expected 0x44504552");
        Files.write(file, new byte[] {0x44, 0x50, 0x45, 0x52, 0, 1});
        assertThatThrownBy(this::registry).isInstanceOf(IOException.class)
                .hasMessage("peer registry " + file + " is truncated: 6 bytes");
    }
}
