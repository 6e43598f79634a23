package io.doppel.journal.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import io.doppel.api.journal.CursorStatus;
import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.journal.Position;

import org.junit.jupiter.api.Test;

class JournalStatusCommandTest {

    private static final JournalStatus STATUS = new JournalStatus("g1", 2, new Position(2, 120), new Position(2, 118),
            new Position(2, 100), new Position(1, 40), 3L << 20, 1L << 30, 4, 80, 10, 45, 3,
            List.of(new CursorStatus("peer-b", new Position(2, 110), 10)));

    private static JournalService service(List<JournalStatus> statuses) {
        return new JournalService() {
            @Override
            public Journal open(JournalOptions options) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void delete(String group) {
                throw new UnsupportedOperationException();
            }

            @Override
            public List<String> list() throws IOException {
                return List.of("g1", "g2");
            }

            @Override
            public List<JournalStatus> status() {
                return statuses;
            }
        };
    }

    private static String run(JournalStatusCommand c) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            c.execute();
        } finally {
            System.setOut(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void tableShowsEveryColumn() throws Exception {
        JournalStatusCommand c = new JournalStatusCommand();
        c.journals = service(List.of(STATUS));
        c.noFormat = true;
        String out = run(c);
        assertThat(out).contains("g1").contains("2/120").contains("2/118").contains("2/100").contains("1/40")
                .contains("3 MiB / 1 GiB").contains("4.5").contains("peer-b@2/110 (10)");
    }

    @Test
    void jsonForScripts() throws Exception {
        JournalStatusCommand c = new JournalStatusCommand();
        c.journals = service(List.of(STATUS));
        c.json = true;
        c.group = "g1";
        String out = run(c);
        assertThat(out).contains("\"group\" : \"g1\"").contains("\"forcedRecords\" : 45").contains("\"seq\" : 120");
    }

    @Test
    void anUnknownGroupIsAUserMistake() {
        JournalStatusCommand c = new JournalStatusCommand();
        c.journals = service(List.of(STATUS));
        c.group = "nope";
        assertThatThrownBy(c::execute).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nope").hasMessageContaining("g1");
    }
}
