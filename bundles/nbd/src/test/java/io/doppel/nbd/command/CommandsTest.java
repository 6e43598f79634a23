package io.doppel.nbd.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.doppel.nbd.internal.ConnectionStatus;
import io.doppel.nbd.internal.Export;
import io.doppel.nbd.internal.ExportStatus;
import io.doppel.nbd.internal.NbdAdmin;
import io.doppel.nbd.internal.NbdStatus;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.console.CommandLine;
import org.junit.jupiter.api.Test;

class CommandsTest {

    /** Keeps exports in a map; the server itself is tested elsewhere. */
    private static final class FakeAdmin implements NbdAdmin {
        final Map<String, Export> exports = new TreeMap<>();

        @Override
        public List<ExportStatus> exports() {
            return exports.values().stream().map(this::status).toList();
        }

        private ExportStatus status(Export e) {
            return new ExportStatus(e.name(), "nbd://127.0.0.1:10809/" + e.name(), e.volume(), e.snapshot(),
                    e.mode(), e.name().equals("vol0") ? 1 : 0, e.description());
        }

        @Override
        public ExportStatus addExport(Export export) {
            if (exports.putIfAbsent(export.name(), export) != null) {
                throw new IllegalArgumentException("export " + export.name() + " already exists");
            }
            return status(export);
        }

        @Override
        public int removeExport(String name, boolean force) {
            if (exports.remove(name) == null) {
                throw new IllegalArgumentException("export " + name + " does not exist");
            }
            return force ? 1 : 0;
        }

        @Override
        public NbdStatus status() {
            return new NbdStatus("127.0.0.1:10809", true,
                    List.of(new ConnectionStatus("127.0.0.1:50000", "vol0", 12, 4096, 8192, 2)));
        }
    }

    private final FakeAdmin admin = new FakeAdmin();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void exportAddDefaultsTheVolumeAndMakesSnapshotsReadOnly() throws Exception {
        ExportAddCommand add = new ExportAddCommand();
        add.nbd = admin;
        add.name = "vol0";
        assertThat(run(add)).isEqualTo("Exported vol0 read-write as nbd://127.0.0.1:10809/vol0\n");

        ExportAddCommand snap = new ExportAddCommand();
        snap.nbd = admin;
        snap.name = "monday";
        snap.volume = "vol0";
        snap.snapshot = "mon";
        snap.json = true;
        JsonNode out = json.readTree(run(snap));
        assertThat(out.get("mode").asText()).isEqualTo("read-only");
        assertThat(out.get("snapshot").asText()).isEqualTo("mon");
        assertThat(admin.exports.get("monday").readOnly()).isTrue();

        ExportAddCommand bad = new ExportAddCommand();
        bad.nbd = admin;
        bad.name = "no spaces";
        assertThatThrownBy(bad::execute).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("export name 'no spaces'");
    }

    @Test
    void exportListPrintsATableOrJson() throws Exception {
        admin.addExport(new Export("vol0", "vol0", null, false, ""));
        admin.addExport(new Export("old", "vol0", "s1", true, "before the upgrade"));
        ExportListCommand list = new ExportListCommand();
        list.nbd = admin;
        assertThat(run(list)).contains("Name").contains("URI").contains("Connections").contains("vol0");
        list.noFormat = true;
        String table = run(list);
        assertThat(table.lines().map(CommandsTest::cells)).containsExactly(
                List.of("old", "nbd://127.0.0.1:10809/old", "vol0", "s1", "read-only", "0"),
                List.of("vol0", "nbd://127.0.0.1:10809/vol0", "vol0", "", "read-write", "1"));

        list.json = true;
        JsonNode out = json.readTree(run(list));
        assertThat(out.isArray()).isTrue();
        assertThat(out).hasSize(2);
        assertThat(out.get(1).get("uri").asText()).isEqualTo("nbd://127.0.0.1:10809/vol0");
        assertThat(out.get(1).get("connections").asInt()).isEqualTo(1);
    }

    @Test
    void nbdStatusShowsConnections() throws Exception {
        NbdStatusCommand status = new NbdStatusCommand();
        status.nbd = admin;
        status.noFormat = true;
        String text = run(status);
        assertThat(text).startsWith("Listening on 127.0.0.1:10809\n");
        assertThat(text.lines().skip(1).map(CommandsTest::cells))
                .containsExactly(List.of("127.0.0.1:50000", "vol0", "12", "4 KiB", "8 KiB", "2"));
        status.json = true;
        JsonNode out = json.readTree(run(status));
        assertThat(out.get("listening").asText()).isEqualTo("127.0.0.1:10809");
        assertThat(out.get("connections").get(0).get("bytesOut").asLong()).isEqualTo(8192);
    }

    @Test
    void exportRemoveAndTheCompleter() throws Exception {
        admin.addExport(new Export("vol0", "vol0", null, false, ""));
        admin.addExport(new Export("vol1", "vol1", null, false, ""));
        admin.addExport(new Export("other", "other", null, false, ""));

        ExportNameCompleter completer = new ExportNameCompleter();
        completer.nbd = admin;
        List<String> candidates = new ArrayList<>();
        completer.complete(null, line("vo"), candidates);
        assertThat(candidates).extracting(String::strip).containsExactlyInAnyOrder("vol0", "vol1");

        ExportRemoveCommand remove = new ExportRemoveCommand();
        remove.nbd = admin;
        remove.name = "vol1";
        assertThat(run(remove)).isEqualTo("Removed export vol1\n");
        remove.name = "vol1";
        assertThatThrownBy(remove::execute).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("export vol1 does not exist");
    }

    private static List<String> cells(String line) {
        return Arrays.stream(line.split("\t")).map(String::strip).toList();
    }

    private static String run(Action action) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            action.execute();
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    private static CommandLine line(String word) {
        return new CommandLine() {
            @Override
            public int getCursorArgumentIndex() {
                return 1;
            }

            @Override
            public String getCursorArgument() {
                return word;
            }

            @Override
            public int getArgumentPosition() {
                return word.length();
            }

            @Override
            public String[] getArguments() {
                return new String[] {"doppel:export-remove", word};
            }

            @Override
            public int getBufferPosition() {
                return getBuffer().length();
            }

            @Override
            public String getBuffer() {
                return "doppel:export-remove " + word;
            }
        };
    }
}
