package io.doppel.api.units;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ByteSizeTest {

    @Test
    void parsesOperatorSizes() {
        assertThat(ByteSize.parse("4096").bytes()).isEqualTo(4096);
        assertThat(ByteSize.parse("1G").bytes()).isEqualTo(1L << 30);
        assertThat(ByteSize.parse("1GiB").bytes()).isEqualTo(1L << 30);
        assertThat(ByteSize.parse("512k").bytes()).isEqualTo(512 * 1024);
        assertThat(ByteSize.parse("1.5M").bytes()).isEqualTo(3 * 512 * 1024);
        assertThat(ByteSize.parse("64MB").bytes()).isEqualTo(64L << 20);
    }

    @Test
    void refusesWhatIsNotASizeNamingIt() {
        assertThatThrownBy(() -> ByteSize.parse("lots")).hasMessageContaining("'lots' is not a size");
        assertThatThrownBy(() -> ByteSize.parse("-1G")).hasMessageContaining("'-1G'");
        assertThatThrownBy(() -> ByteSize.parse("99999999999E")).hasMessageContaining("is not a size");
        assertThatThrownBy(() -> ByteSize.parse("")).hasMessageContaining("required");
    }

    @Test
    void formats() {
        assertThat(ByteSize.format(512)).isEqualTo("512 B");
        assertThat(ByteSize.format(1L << 30)).isEqualTo("1 GiB");
        assertThat(ByteSize.format(3 * 512 * 1024)).isEqualTo("1.5 MiB");
    }
}
