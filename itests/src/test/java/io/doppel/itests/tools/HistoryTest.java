package io.doppel.itests.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.doppel.itests.tools.History.BlockRef;
import io.doppel.itests.tools.History.Outcome;
import io.doppel.itests.tools.History.Volume;
import io.doppel.itests.tools.History.Write;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HistoryTest {

    @TempDir
    Path dir;

    static History sample() {
        return new History(0xfeedL, 42, List.of(new Volume(0, "a", 8), new Volume(1, "b", 8)), List.of(
                write(1, 0, 0, 2, 1, 2, Outcome.ACKNOWLEDGED),
                write(2, 0, 0, 1, 3, 4, Outcome.ACKNOWLEDGED),
                write(3, 1, 0, 1, 5, 8, Outcome.ACKNOWLEDGED),
                write(4, 0, 2, 1, 6, 7, Outcome.ACKNOWLEDGED),
                new Write(5, 1, 1, 1, true, 9, 10, Outcome.FAILED, 28),
                write(6, 0, 3, 1, 11, -1, Outcome.UNKNOWN),
                write(7, 1, 2, 1, 12, 13, Outcome.ACKNOWLEDGED)),
                List.of(new History.Flush(0, 14, 15, Outcome.ACKNOWLEDGED)));
    }

    static Write write(long id, int volume, long first, int count, long issue, long complete, Outcome outcome) {
        return new Write(id, volume, first, count, false, issue, complete, outcome, 0);
    }

    @Test
    void countsOutcomes() {
        History history = sample();

        assertThat(history.acknowledged()).isEqualTo(5);
        assertThat(history.failed()).isEqualTo(1);
        assertThat(history.unknown()).isEqualTo(1);
        assertThat(history.lastTick()).isEqualTo(15);
        assertThat(history.write(5).errno()).isEqualTo(28);
        assertThat(history.write(99)).isNull();
    }

    @Test
    void happensBeforeMeansAnsweredBeforeIssued() {
        History history = sample();

        assertThat(history.write(1).happensBefore(history.write(2))).isTrue();
        assertThat(history.write(3).happensBefore(history.write(4))).isFalse();
        assertThat(history.write(4).happensBefore(history.write(3))).isFalse();
        assertThat(history.write(6).happensBefore(history.write(7))).isFalse();
    }

    @Test
    void dirtyBlocksSinceATick() {
        History history = sample();

        // issued after tick 5: writes 4, 5, 6, 7
        assertThat(history.blocksWrittenAfter(5)).containsExactlyInAnyOrder(new BlockRef("a", 2),
                new BlockRef("b", 1), new BlockRef("a", 3), new BlockRef("b", 2));
        // write 3 (issued 5, answered 8) was in flight at tick 6
        assertThat(history.blocksMaybeWrittenAfter(6)).containsExactlyInAnyOrder(new BlockRef("b", 0),
                new BlockRef("a", 2), new BlockRef("b", 1), new BlockRef("a", 3), new BlockRef("b", 2));
        assertThat(history.blocksWrittenAfter(6)).doesNotContain(new BlockRef("b", 0));
        assertThat(history.blocksWrittenAfter(15)).isEmpty();
        // the unknown write may land any time
        assertThat(history.blocksMaybeWrittenAfter(100)).containsExactly(new BlockRef("a", 3));
    }

    @Test
    void savesAndLoadsAsJson() {
        History history = sample();
        Path file = dir.resolve("logs/history.json");

        history.save(file);
        History loaded = History.load(file);

        assertThat(loaded.runId()).isEqualTo(history.runId());
        assertThat(loaded.seed()).isEqualTo(42);
        assertThat(loaded.volumes()).isEqualTo(history.volumes());
        assertThat(loaded.writes()).isEqualTo(history.writes());
        assertThat(loaded.flushes()).isEqualTo(history.flushes());
    }

    @Test
    void refusesAnotherVersionOrFormatNamingWhatItFound() throws IOException {
        History history = sample();
        Path file = dir.resolve("history.json");
        history.save(file);
        String json = Files.readString(file);

        Files.writeString(file, json.replace("\"version\":1", "\"version\":7"));
        assertThatThrownBy(() -> History.load(file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("version 7").hasMessageContaining("version 1");

        Files.writeString(file, json.replace(History.FORMAT, "something-else"));
        assertThatThrownBy(() -> History.load(file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("something-else");
    }

    @Test
    void refusesInconsistentWrites() {
        List<Volume> volumes = List.of(new Volume(0, "a", 8));
        assertThatThrownBy(() -> write(1, 0, 0, 1, 5, 3, Outcome.ACKNOWLEDGED))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("write 1");
        assertThatThrownBy(() -> write(1, 0, 0, 1, 5, 7, Outcome.UNKNOWN))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("UNKNOWN");
        assertThatThrownBy(() -> new History(1, 1, volumes, List.of(write(1, 0, 6, 4, 1, 2, Outcome.ACKNOWLEDGED)),
                List.of())).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("beyond the 8 blocks");
        assertThatThrownBy(() -> new History(1, 1, volumes, List.of(write(1, 0, 0, 1, 1, 2, Outcome.ACKNOWLEDGED),
                write(1, 0, 1, 1, 3, 4, Outcome.ACKNOWLEDGED)), List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("appears twice");
        assertThatThrownBy(() -> sample().volume("c")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'c'");
    }
}
