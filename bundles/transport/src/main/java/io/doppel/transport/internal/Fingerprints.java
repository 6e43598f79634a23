package io.doppel.transport.internal;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.Locale;

/** SHA-256 certificate fingerprints as operators read and type them. */
final class Fingerprints {

    private static final HexFormat PAIRS = HexFormat.ofDelimiter(":").withUpperCase();

    private Fingerprints() {
    }

    /** SHA-256 of the DER certificate, uppercase hex pairs joined by ':'. */
    static String of(X509Certificate cert) {
        try {
            return PAIRS.formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        } catch (CertificateEncodingException e) {
            throw new IllegalArgumentException("certificate cannot be encoded: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    /**
     * The canonical form of a fingerprint an operator typed: with or without ':' and in any case.
     *
     * @throws IllegalArgumentException naming the text when it is not 64 hex digits
     */
    static String normalize(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("a fingerprint is required: the SHA-256 of the peer's certificate"
                    + " (64 hex digits, as doppel:site-id prints it on that site)");
        }
        String hex = text.trim().replace(":", "").toUpperCase(Locale.ROOT);
        for (int i = 0; i < hex.length(); i++) {
            char c = hex.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
                throw new IllegalArgumentException("fingerprint '" + text + "' contains '" + text.trim().replace(":", "")
                        .charAt(i) + "', which is not a hex digit: expected 64 hex digits (':' separators optional)");
            }
        }
        if (hex.length() != 64) {
            throw new IllegalArgumentException("fingerprint '" + text + "' has " + hex.length()
                    + " hex digits; a SHA-256 fingerprint has 64 (':' separators optional)");
        }
        return PAIRS.formatHex(HexFormat.of().parseHex(hex));
    }
}
