package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.interfaces.ECPublicKey;
import java.util.Date;
import java.util.HexFormat;

import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SiteCertificateTest {

    @TempDir
    Path tmp;

    private final FileStorage storage = new FileStorage();

    @Test
    void theFirstStartMakesAKeyAndASelfSignedCertificateThatLaterStartsKeep() throws Exception {
        Path dir = tmp.resolve("tls");
        SiteCertificate made = SiteCertificate.loadOrCreate(storage, dir, "site-a");

        Path file = dir.resolve(SiteCertificate.FILE);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        assertThat(made.commonName()).isEqualTo("site-a");
        assertThat(made.certificate().getSubjectX500Principal()).isEqualTo(made.certificate().getIssuerX500Principal());
        made.certificate().verify(made.certificate().getPublicKey()); // self-signed
        made.certificate().checkValidity(new Date());
        assertThat(made.certificate().getPublicKey()).isInstanceOf(ECPublicKey.class);
        assertThat(((ECPublicKey) made.certificate().getPublicKey()).getParams().getCurve().getField().getFieldSize())
                .isEqualTo(256);
        // the fingerprint is what `openssl x509 -noout -fingerprint -sha256` prints
        String sha256 = HexFormat.ofDelimiter(":").withUpperCase()
                .formatHex(MessageDigest.getInstance("SHA-256").digest(made.certificate().getEncoded()));
        assertThat(made.fingerprint()).isEqualTo(sha256).hasSize(95);

        byte[] before = Files.readAllBytes(file);
        SiteCertificate loaded = SiteCertificate.loadOrCreate(storage, dir, "ignored-now");
        assertThat(loaded.fingerprint()).isEqualTo(made.fingerprint());
        assertThat(loaded.commonName()).isEqualTo("site-a");
        assertThat(loaded.key().getEncoded()).isEqualTo(made.key().getEncoded());
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
        assertThat(loaded.toString()).doesNotContain("PRIVATE").contains(made.fingerprint());

        // negative control: another directory is another identity
        assertThat(SiteCertificate.loadOrCreate(storage, tmp.resolve("other"), "site-a").fingerprint())
                .isNotEqualTo(made.fingerprint());
    }

    @Test
    void aFileWithoutItsCertificateIsRefusedNamingTheFileAndTheWayOut() throws IOException {
        Path dir = tmp.resolve("tls");
        SiteCertificate made = SiteCertificate.loadOrCreate(storage, dir, "site-a");
        Path file = dir.resolve(SiteCertificate.FILE);
        String pem = made.pem();
        Files.writeString(file, pem.substring(0, pem.indexOf("-----BEGIN CERTIFICATE")), StandardCharsets.US_ASCII);
        assertThatThrownBy(() -> SiteCertificate.loadOrCreate(storage, dir, "site-a")).isInstanceOf(IOException.class)
                .hasMessageStartingWith("site certificate file " + file + " must hold a PRIVATE KEY and a CERTIFICATE"
                        + " block; it lacks the certificate")
                .hasMessageContaining("every peer must then pin the new fingerprint");
    }

    @Test
    void aKeyThatIsNotTheCertificatesIsRefused() throws IOException {
        SiteCertificate a = SiteCertificate.generate("site-a");
        SiteCertificate b = SiteCertificate.generate("site-b");
        String mixed = a.pem().substring(0, a.pem().indexOf("-----BEGIN CERTIFICATE"))
                + b.pem().substring(b.pem().indexOf("-----BEGIN CERTIFICATE"));
        Path file = tmp.resolve("site.pem");
        assertThatThrownBy(() -> SiteCertificate.read(file, mixed.getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(IOException.class)
                .hasMessage("site certificate file " + file + " is damaged: the private key does not belong to the"
                        + " certificate");
    }
}
