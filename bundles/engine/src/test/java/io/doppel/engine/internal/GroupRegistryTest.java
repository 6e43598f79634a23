package io.doppel.engine.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class GroupRegistryTest {

    private static final Path HOME = Path.of("/doppel");

    @Test
    void theJournalOnlyFlagSurvivesARestart() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        storage.createDirectories(HOME);
        GroupRegistry r = new GroupRegistry(storage, HOME);
        r.load();
        r.add("plain", 0);
        r.add("relay", 1L << 30, true);
        GroupRegistry again = new GroupRegistry(storage, HOME);
        again.load();
        assertThat(again.find("relay").orElseThrow().journalOnly()).isTrue();
        assertThat(again.find("plain").orElseThrow().journalOnly()).isFalse();
        assertThat(again.find("relay").orElseThrow().journalCapacity()).isEqualTo(1L << 30);
    }

    @Test
    void aVersionOneRegistryIsReadAsGroupsWithVolumes() throws Exception {
        SimulatedStorage storage = new SimulatedStorage();
        storage.createDirectories(HOME);
        // a registry as version 1 wrote it: no journal-only flag
        MetaFile.write(storage, HOME.resolve("groups"), GroupRegistry.MAGIC, 1, out -> {
            out.writeInt(3);
            out.writeInt(2);
            out.writeUTF("default");
            out.writeInt(1);
            out.writeLong(0);
            out.writeUTF("db");
            out.writeInt(2);
            out.writeLong(4096L << 20);
        });
        GroupRegistry r = new GroupRegistry(storage, HOME);
        r.load();
        assertThat(r.entries()).extracting(GroupRegistry.Entry::name).containsExactly("default", "db");
        assertThat(r.entries()).noneMatch(GroupRegistry.Entry::journalOnly);
        assertThat(r.find("db").orElseThrow().journalCapacity()).isEqualTo(4096L << 20);
        // the next change writes version 2, and the next id continues
        assertThat(r.add("relay", 0, true).id()).isEqualTo(3);
        GroupRegistry again = new GroupRegistry(storage, HOME);
        again.load();
        assertThat(again.entries()).hasSize(3);
        assertThat(again.find("relay").orElseThrow().journalOnly()).isTrue();
    }
}
