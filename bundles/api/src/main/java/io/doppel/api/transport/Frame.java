package io.doppel.api.transport;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A message between sites: a type (values below 100 belong to the transport itself) and a
 * payload. The transport adds a header with a version, the length and a CRC32C of header
 * and payload, and refuses frames that fail it.
 *
 * @param type    what the payload is
 * @param payload the bytes, position to limit
 */
public record Frame(int type, ByteBuffer payload) {

    /** First type free for services; lower ones are the transport's own (hello, heartbeat, reply). */
    public static final int FIRST_SERVICE_TYPE = 100;

    public Frame {
        Objects.requireNonNull(payload, "payload");
    }
}
