package io.doppel.engine.internal;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

import io.doppel.api.storage.Storage;

/** The persisted list of groups, {@code <home>/groups}. Callers synchronize. */
final class GroupRegistry {

    static final String MAGIC = "DGRP";
    /** 2 adds the journal-only flag; a version 1 file is read as groups with volumes. */
    static final int VERSION = 2;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    record Entry(String name, int id, long journalCapacity, boolean journalOnly) {
    }

    private final Storage storage;
    private final Path file;
    private final List<Entry> entries = new ArrayList<>();
    private int nextId = 1;

    GroupRegistry(Storage storage, Path home) {
        this.storage = storage;
        this.file = home.resolve("groups");
    }

    void load() throws IOException {
        entries.clear();
        if (!storage.exists(file)) {
            return;
        }
        MetaFile.Versioned v = MetaFile.read(storage, file, MAGIC, 1, VERSION);
        DataInputStream in = v.in();
        nextId = in.readInt();
        int n = in.readInt();
        for (int i = 0; i < n; i++) {
            String name = in.readUTF();
            int id = in.readInt();
            long cap = in.readLong();
            entries.add(new Entry(name, id, cap, v.version() >= 2 && in.readBoolean()));
        }
    }

    private void save() throws IOException {
        MetaFile.write(storage, file, MAGIC, VERSION, out -> {
            out.writeInt(nextId);
            out.writeInt(entries.size());
            for (Entry e : entries) {
                out.writeUTF(e.name());
                out.writeInt(e.id());
                out.writeLong(e.journalCapacity());
                out.writeBoolean(e.journalOnly());
            }
        });
    }

    List<Entry> entries() {
        return List.copyOf(entries);
    }

    Optional<Entry> find(String name) {
        return entries.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    Entry add(String name, long journalCapacity) throws IOException {
        return add(name, journalCapacity, false);
    }

    Entry add(String name, long journalCapacity, boolean journalOnly) throws IOException {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("group name '" + name
                    + "' is invalid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        if (find(name).isPresent()) {
            throw new IllegalArgumentException("group " + name + " already exists");
        }
        if (journalCapacity < 0) {
            throw new IllegalArgumentException("journal capacity must not be negative: " + journalCapacity);
        }
        Entry e = new Entry(name, nextId++, journalCapacity, journalOnly);
        entries.add(e);
        save();
        return e;
    }

    void remove(String name) throws IOException {
        if (entries.removeIf(e -> e.name().equals(name))) {
            save();
        }
    }
}
