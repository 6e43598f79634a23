package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** What an operator types for a peer: its fingerprint, name and address. */
class PeerEntryTest {

    @Test
    void aFingerprintIsAcceptedWithOrWithoutColonsInAnyCase() {
        String canonical = ("AB:".repeat(31) + "AB");
        assertThat(Fingerprints.normalize("ab".repeat(32))).isEqualTo(canonical);
        assertThat(Fingerprints.normalize("  " + canonical.toLowerCase() + " ")).isEqualTo(canonical);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "ABCD|fingerprint 'ABCD' has 4 hex digits; a SHA-256 fingerprint has 64 (':' separators optional)",
        "zz:01|fingerprint 'zz:01' contains 'z', which is not a hex digit: expected 64 hex digits (':' separators optional)",
        "' '|a fingerprint is required: the SHA-256 of the peer's certificate (64 hex digits, as doppel:site-id prints it"
                + " on that site)"})
    void aBadFingerprintIsRefusedSayingWhatIsWrong(String text, String message) {
        assertThatThrownBy(() -> Fingerprints.normalize(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(message);
    }

    @Test
    void addressesAreHostPortOrEmpty() {
        assertThat(PeerEntry.checkAddress(" site-b.example.com:10810 ")).isEqualTo("site-b.example.com:10810");
        assertThat(PeerEntry.checkAddress("[fd00::2]:10810")).isEqualTo("[fd00::2]:10810");
        assertThat(PeerEntry.checkAddress("")).isEmpty();
        assertThat(PeerEntry.checkAddress(null)).isEmpty();
        PeerEntry e = new PeerEntry("b", "[fd00::2]:10810", "", "");
        assertThat(e.host()).isEqualTo("fd00::2");
        assertThat(e.port()).isEqualTo(10810);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "site-b|must be host:port",
        "site-b:|must be host:port",
        "site b:10810|has an invalid host 'site b'",
        "[zz::1]:10810|has an invalid host '[zz::1]'",
        "site-b:0|has an invalid port '0': it must be a number from 1 to 65535",
        "site-b:65536|has an invalid port '65536'",
        "site-b:+80|has an invalid port '+80'"})
    void aBadAddressIsRefusedNamingIt(String address, String message) {
        assertThatThrownBy(() -> PeerEntry.checkAddress(address)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("peer address '" + address + "'").hasMessageContaining(message);
    }

    @Test
    void aBadNameIsRefusedWithTheRule() {
        assertThat(PeerEntry.checkName("site-b.dc2_x")).isEqualTo("site-b.dc2_x");
        assertThatThrownBy(() -> PeerEntry.checkName("-b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("peer name '-b' is not valid: 1 to 64 letters, digits, '.', '_' or '-', starting with a"
                        + " letter or digit");
        assertThatThrownBy(() -> PeerEntry.checkName("x".repeat(65))).isInstanceOf(IllegalArgumentException.class);
    }
}
