package io.doppel.transport.internal;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.security.auth.x500.X500Principal;

import io.doppel.api.storage.Storage;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This site's TLS identity: an EC P-256 key and a self-signed certificate, made on the first
 * start and kept in {@code site.pem} (PKCS#8 private key, then the certificate, as PEM) so
 * that {@code openssl x509 -in site.pem -noout -fingerprint -sha256} prints the fingerprint
 * peers pin.
 *
 * @param key         the private key
 * @param certificate the self-signed certificate
 * @param fingerprint SHA-256 of the certificate, hex pairs joined by ':'
 * @param commonName  the certificate's CN (the site id when it was made)
 */
record SiteCertificate(PrivateKey key, X509Certificate certificate, String fingerprint, String commonName) {

    private static final Logger LOG = LoggerFactory.getLogger(SiteCertificate.class);

    static final String FILE = "site.pem";
    static final Duration VALIDITY = Duration.ofDays(100L * 365);
    private static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)\\s*-----END \\1-----");

    /**
     * Reads {@code dir/site.pem}, or makes a new key and certificate there when it does not exist.
     *
     * @param commonName the CN of a new certificate (the site id)
     * @throws IOException when the file cannot be read, is damaged, or its key does not match its certificate
     */
    static SiteCertificate loadOrCreate(Storage storage, Path dir, String commonName) throws IOException {
        Path file = dir.resolve(FILE);
        if (storage.exists(file)) {
            SiteCertificate c = read(file, storage.readAll(file));
            restrict(file, OWNER_ONLY_FILE);
            LOG.debug("Loaded site certificate {} (CN={}, fingerprint {})", file, c.commonName, c.fingerprint);
            return c;
        }
        SiteCertificate c = generate(commonName);
        storage.createDirectories(dir);
        // Storage has no chmod: the permissions alone go through java.nio.file. The directory is
        // closed first, so the temp file writeAtomically makes is never readable by others.
        restrict(dir, OWNER_ONLY_DIR);
        storage.writeAtomically(file, ByteBuffer.wrap(c.pem().getBytes(StandardCharsets.US_ASCII)));
        restrict(file, OWNER_ONLY_FILE);
        LOG.info("Made this site's TLS key and certificate {} (CN={}); fingerprint {}", file, c.commonName,
                c.fingerprint);
        return c;
    }

    static SiteCertificate generate(String commonName) throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            KeyPair pair = gen.generateKeyPair();
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, commonName).build();
            Instant now = Instant.now();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject,
                    new BigInteger(63, new SecureRandom()).add(BigInteger.ONE),
                    Date.from(now.minus(Duration.ofDays(1))), Date.from(now.plus(VALIDITY)), subject,
                    pair.getPublic());
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            builder.addExtension(Extension.extendedKeyUsage, false,
                    new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth,
                            KeyPurposeId.id_kp_clientAuth}));
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate());
            X509Certificate cert = new JcaX509CertificateConverter().getCertificate(builder.build(signer));
            return new SiteCertificate(pair.getPrivate(), cert, Fingerprints.of(cert), commonName);
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot make this site's TLS key and certificate: " + e.getMessage(), e);
        }
    }

    static SiteCertificate read(Path file, byte[] content) throws IOException {
        String text = new String(content, StandardCharsets.US_ASCII);
        byte[] keyDer = null;
        byte[] certDer = null;
        Matcher m = PEM.matcher(text);
        try {
            while (m.find()) {
                byte[] der = Base64.getMimeDecoder().decode(m.group(2));
                switch (m.group(1)) {
                    case "PRIVATE KEY" -> keyDer = der;
                    case "CERTIFICATE" -> certDer = der;
                    default -> throw new IOException("site certificate file " + file + " holds an unexpected "
                            + m.group(1) + " block");
                }
            }
        } catch (IllegalArgumentException e) {
            throw new IOException("site certificate file " + file + " is damaged: " + e.getMessage(), e);
        }
        if (keyDer == null || certDer == null) {
            throw new IOException("site certificate file " + file + " must hold a PRIVATE KEY and a CERTIFICATE"
                    + " block; it lacks the " + (keyDer == null ? "key" : "certificate")
                    + ". Restore it from a backup, or delete it to make a new identity (every peer must then"
                    + " pin the new fingerprint)");
        }
        try {
            PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(keyDer));
            X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(certDer));
            checkPair(key, cert);
            return new SiteCertificate(key, cert, Fingerprints.of(cert), commonName(cert));
        } catch (GeneralSecurityException e) {
            throw new IOException("site certificate file " + file + " is damaged: " + e.getMessage(), e);
        }
    }

    /** Never shows the key. */
    @Override
    public String toString() {
        return "SiteCertificate[CN=" + commonName + ", fingerprint=" + fingerprint + "]";
    }

    /** The file content: the key, then the certificate. */
    String pem() {
        Base64.Encoder b64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));
        try {
            return "-----BEGIN PRIVATE KEY-----\n" + b64.encodeToString(key.getEncoded()) + "\n-----END PRIVATE KEY-----\n"
                    + "-----BEGIN CERTIFICATE-----\n" + b64.encodeToString(certificate.getEncoded())
                    + "\n-----END CERTIFICATE-----\n";
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("certificate cannot be encoded", e);
        }
    }

    private static void checkPair(PrivateKey key, X509Certificate cert) throws GeneralSecurityException {
        byte[] probe = "doppel site key check".getBytes(StandardCharsets.US_ASCII);
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(key);
        s.update(probe);
        byte[] sig = s.sign();
        s.initVerify(cert.getPublicKey());
        s.update(probe);
        if (!s.verify(sig)) {
            throw new GeneralSecurityException("the private key does not belong to the certificate");
        }
    }

    private static String commonName(X509Certificate cert) {
        String dn = cert.getSubjectX500Principal().getName(X500Principal.RFC2253);
        for (String part : dn.split(",")) {
            if (part.startsWith("CN=")) {
                return part.substring(3);
            }
        }
        return dn;
    }

    private static void restrict(Path path, Set<PosixFilePermission> permissions) {
        try {
            if (!Files.getPosixFilePermissions(path).equals(permissions)) {
                Files.setPosixFilePermissions(path, permissions);
            }
        } catch (UnsupportedOperationException e) {
            LOG.warn("{} is on a file system without POSIX permissions: protect it by other means", path);
        } catch (IOException e) {
            LOG.warn("Cannot restrict the permissions of {} to {}: {}", path,
                    PosixFilePermissions.toString(permissions), e.getMessage());
        }
    }
}
