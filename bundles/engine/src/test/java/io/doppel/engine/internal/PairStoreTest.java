package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;

import io.doppel.api.journal.Position;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class PairStoreTest {

    private static final Path HOME = Path.of("/home");
    private final SimulatedStorage storage = new SimulatedStorage();

    @org.junit.jupiter.api.BeforeEach
    void home() throws IOException {
        storage.createDirectories(HOME);
    }

    @Test
    void aPairSurvivesARestartWithWhatThePeerHoldsDurably() throws IOException {
        PairStore s = new PairStore(storage, HOME);
        s.load();
        s.add(new PairStore.PairRecord("p1", "g", "geneva", true, "async", "", false, true, false, true, Position.ZERO));
        s.update("p1", r -> r.withPeerDurable(new Position(3, 1200)).withOutdated(true));
        PairStore again = new PairStore(storage, HOME);
        again.load();
        PairStore.PairRecord r = again.byId("p1").orElseThrow();
        assertThat(r.peerDurable()).isEqualTo(new Position(3, 1200));
        assertThat(r.outdated()).isTrue();
        assertThat(r.fullCopyDone()).isTrue();
    }

    @Test
    void aVersionOneFileIsReadWithNothingKnownDurable() throws IOException {
        MetaFile.write(storage, HOME.resolve("pairs"), PairStore.MAGIC, 1, out -> {
            out.writeInt(1);
            out.writeUTF("p1");
            out.writeUTF("g");
            out.writeUTF("geneva");
            out.writeBoolean(true);
            out.writeUTF("sync");
            out.writeUTF("continue");
            out.writeBoolean(true);
            out.writeBoolean(true);
            out.writeBoolean(false);
            out.writeBoolean(true);
            out.writeLong(0);
            out.writeLong(0);
        });
        PairStore s = new PairStore(storage, HOME);
        s.load();
        PairStore.PairRecord r = s.byId("p1").orElseThrow();
        assertThat(r.mode()).isEqualTo("sync");
        assertThat(r.outdated()).isTrue();
        assertThat(r.peerDurable()).isEqualTo(Position.ZERO);
        // the next change writes version 2
        s.update("p1", x -> x.withPeerDurable(new Position(1, 5)));
        assertThat(storage.readAll(HOME.resolve("pairs"))[5]).isEqualTo((byte) 2);
    }

    @Test
    void aNewerVersionIsRefusedNamingTheVersionsRead() throws IOException {
        MetaFile.write(storage, HOME.resolve("pairs"), PairStore.MAGIC, 3, out -> out.writeInt(0));
        assertThatThrownBy(() -> new PairStore(storage, HOME).load()).isInstanceOf(IOException.class)
                .hasMessageContaining("/home/pairs").hasMessageContaining("format version 3 is not supported")
                .hasMessageContaining("version 1 to 2");
    }
}
