package io.doppel.failover.command;

import java.io.PrintStream;
import java.time.Instant;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;

/** --json output, as the engine's commands print it: positions as "EPOCH/SEQ", instants as ISO-8601. */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .registerModule(new SimpleModule().addSerializer(Instant.class, ToStringSerializer.instance)
                    .addSerializer(io.doppel.api.journal.Position.class, ToStringSerializer.instance));

    private Json() {
    }

    static void print(PrintStream out, Object value) throws JsonProcessingException {
        out.println(MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value));
    }
}
