package io.doppel.engine.internal;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Instant;
import java.util.UUID;

import io.doppel.api.site.SiteIdentity;
import io.doppel.api.storage.Storage;

/** The site's identity file {@code <home>/site}: made on first start, never changed after. */
final class SiteStore {

    static final String MAGIC = "DSIT";
    static final int VERSION = 1;

    record Site(String id, String name, Path home, Instant created, boolean bootstrapped) implements SiteIdentity {
        Site withBootstrapped() {
            return new Site(id, name, home, created, true);
        }
    }

    private final Storage storage;
    private final Path home;

    SiteStore(Storage storage, Path home) {
        this.storage = storage;
        this.home = home;
    }

    Path file() {
        return home.resolve("site");
    }

    /** Reads the site, or makes a new one (not yet bootstrapped) on first start. */
    Site loadOrCreate() throws IOException {
        storage.createDirectories(home);
        if (storage.exists(file())) {
            DataInputStream in = MetaFile.read(storage, file(), MAGIC, VERSION);
            return new Site(in.readUTF(), in.readUTF(), home, Instant.ofEpochMilli(in.readLong()), in.readBoolean());
        }
        Site s = new Site(UUID.randomUUID().toString(), hostName(), home, Instant.now(), false);
        save(s);
        return s;
    }

    void save(Site s) throws IOException {
        MetaFile.write(storage, file(), MAGIC, VERSION, out -> {
            out.writeUTF(s.id());
            out.writeUTF(s.name());
            out.writeLong(s.created().toEpochMilli());
            out.writeBoolean(s.bootstrapped());
        });
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "doppel";
        }
    }
}
