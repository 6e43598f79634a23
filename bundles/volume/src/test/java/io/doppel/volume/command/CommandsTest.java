package io.doppel.volume.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.doppel.api.volume.Volume;
import io.doppel.testkit.SimulatedStorage;
import io.doppel.volume.internal.VolumeManager;

import org.apache.karaf.shell.api.action.Action;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class CommandsTest {

    private static final Path POOL = Path.of("/pool");

    private VolumeManager volumes;

    @BeforeEach
    void setUp() throws IOException {
        volumes = new VolumeManager(new SimulatedStorage(), POOL, List.of(POOL), List::of, Clock.systemUTC());
        volumes.create("alpha", 1L << 20, "g1");
        volumes.create("beta", 2L << 20, "g2");
        try (Volume v = volumes.open("alpha")) {
            v.createSnapshot("monday");
            v.write(ByteBuffer.wrap(new byte[8192]), 0);
            v.createSnapshot("tuesday");
        }
    }

    @AfterEach
    void tearDown() {
        volumes.close();
    }

    private static String run(Action action) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            action.execute();
        } finally {
            System.setOut(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void volumeListPrintsATableAndJson() throws Exception {
        VolumeListCommand c = new VolumeListCommand();
        c.volumes = volumes;
        c.noFormat = true;
        String table = run(c);
        assertThat(table).contains("alpha").contains("1 MiB").contains("beta").contains("2 MiB").contains("/pool");
        c.json = true;
        JsonNode json = new ObjectMapper().readTree(run(c));
        assertThat(json).hasSize(2);
        assertThat(json.get(0).get("name").asText()).isEqualTo("alpha");
        assertThat(json.get(0).get("id").asInt()).isEqualTo(1);
        assertThat(json.get(0).get("group").asText()).isEqualTo("g1");
        assertThat(json.get(0).get("size").asLong()).isEqualTo(1L << 20);
        assertThat(json.get(0).get("snapshots").asInt()).isEqualTo(2);
        assertThat(json.get(1).get("snapshots").asInt()).isZero();
    }

    @Test
    void snapshotListShowsPreservedData() throws Exception {
        SnapshotListCommand c = new SnapshotListCommand();
        c.volumes = volumes;
        c.volume = "alpha";
        c.json = true;
        JsonNode json = new ObjectMapper().readTree(run(c));
        assertThat(json).hasSize(2);
        assertThat(json.get(0).get("name").asText()).isEqualTo("monday");
        assertThat(json.get(0).get("preservedBytes").asLong()).isEqualTo(8192);
        assertThat(json.get(1).get("preservedBytes").asLong()).isZero();
        c.json = false;
        assertThat(run(c)).contains("monday").contains("8 KiB").contains("tuesday");
        c.volume = "nope";
        assertThatThrownBy(() -> run(c)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("no volume named 'nope'");
    }

    @Test
    void snapshotDeleteDeletesAndNamesMistakes() throws Exception {
        SnapshotDeleteCommand c = new SnapshotDeleteCommand();
        c.volumes = volumes;
        c.volume = "alpha";
        c.snapshot = "tuesday";
        assertThat(run(c)).contains("Snapshot alpha@tuesday deleted");
        try (Volume v = volumes.open("alpha")) {
            assertThat(v.snapshots()).extracting(s -> s.name()).containsExactly("monday");
        }
        assertThatThrownBy(() -> run(c)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("volume alpha has no snapshot named 'tuesday'");
    }

    @Test
    void poolPrintsTheDirectories() throws Exception {
        PoolCommand c = new PoolCommand();
        c.volumes = volumes;
        c.json = true;
        JsonNode json = new ObjectMapper().readTree(run(c));
        assertThat(json.get(0).get("path").asText()).isEqualTo("/pool");
        assertThat(json.get(0).get("volumes").asInt()).isEqualTo(2);
        assertThat(json.get(0).get("provisioned").asLong()).isEqualTo(3L << 20);
        c.json = false;
        assertThat(run(c)).contains("/pool").contains("3 MiB");
    }

    @Test
    void theSnapshotCompleterFindsTheVolumeArgument() {
        assertThat(SnapshotNameCompleter.volumeArgument(new String[] {"doppel:snapshot-delete", "alpha", "t"}, 2))
                .isEqualTo("alpha");
        assertThat(SnapshotNameCompleter.volumeArgument(new String[] {"doppel:snapshot-delete", "-x", "alpha", ""}, 3))
                .isEqualTo("alpha");
        assertThat(SnapshotNameCompleter.volumeArgument(new String[] {"doppel:snapshot-delete", "al"}, 1)).isNull();
    }
}
