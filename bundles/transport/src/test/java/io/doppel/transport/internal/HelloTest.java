package io.doppel.transport.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

class HelloTest {

    @Test
    void aHelloSurvivesEncodingAndStartsWithItsVersion() {
        Hello hello = new Hello(1, "0b7c-site", "Zürich DC", "AB:CD", true);
        ByteBuffer b = hello.encode();
        assertThat(b.getShort(0)).isEqualTo((short) 1);
        assertThat(Hello.version(b)).isEqualTo(1);
        assertThat(Hello.decode(b)).isEqualTo(hello);
        assertThat(Hello.decode(new Hello(1, "x", "", "", false).encode()).dials()).isFalse();
    }

    @Test
    void theVersionOfAHelloOfAnotherLayoutCanStillBeRead() {
        // whatever a later version puts after its first two bytes
        ByteBuffer future = ByteBuffer.allocate(5).putShort((short) 7).put(new byte[] {9, 9, 9}).flip();
        assertThat(Hello.version(future)).isEqualTo(7);
    }

    @Test
    void aTruncatedHelloIsRefusedNamingItsSize() {
        ByteBuffer whole = new Hello(1, "site-a", "a", "AB", false).encode();
        ByteBuffer cut = whole.duplicate().limit(9);
        assertThatThrownBy(() -> Hello.decode(cut)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("HELLO of 9 bytes is truncated");
        assertThatThrownBy(() -> Hello.version(ByteBuffer.allocate(1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("HELLO of 1 bytes has no protocol version");
    }
}
