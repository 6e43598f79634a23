package io.doppel.engine.command;

import java.io.PrintStream;
import java.time.Instant;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;

/** --json output: records and lists as pretty JSON; instants as ISO-8601 text. */
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
