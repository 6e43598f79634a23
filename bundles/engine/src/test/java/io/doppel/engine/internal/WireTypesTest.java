package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

class WireTypesTest {

    /** A message type missing from the registration gets "no handler for frame type" at the peer. */
    @Test
    void everyMessageTypeIsRegisteredWithTheTransport() {
        String types = Arrays.stream(Wire.TYPES).sorted().mapToObj(Integer::toString).collect(Collectors.joining(","));
        assertThat(Wire.TYPE_LIST).isEqualTo(types);
    }
}
