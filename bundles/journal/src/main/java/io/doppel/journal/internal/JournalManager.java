package io.doppel.journal.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;

import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.storage.Storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The journals under one directory: opens, tracks, lists and deletes them. Usable without OSGi. */
public final class JournalManager implements JournalService {

    private static final Logger LOG = LoggerFactory.getLogger(JournalManager.class);
    private static final Pattern GROUP_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final Storage storage;
    private final Executor executor;
    private volatile Path root;
    private volatile JournalSettings settings;
    // guarded by this
    private final Map<String, FileJournal> open = new LinkedHashMap<>();
    // guarded by this: groups being opened (recovering) right now
    private final Set<String> opening = new HashSet<>();

    public JournalManager(Storage storage, Path root, JournalSettings settings, Executor executor) {
        this.storage = storage;
        this.root = root;
        this.settings = settings;
        this.executor = executor;
    }

    /** New settings and directory apply to journals opened from now on. */
    public void reconfigure(Path newRoot, JournalSettings newSettings) {
        this.root = newRoot;
        this.settings = newSettings;
    }

    public Path root() {
        return root;
    }

    public JournalSettings settings() {
        return settings;
    }

    static void checkGroupName(String group) {
        if (group == null || !GROUP_NAME.matcher(group).matches()) {
            throw new IllegalArgumentException("group name '" + group + "' is not valid: use 1 to 64 letters, digits, '.', '_' or '-', "
                    + "starting with a letter or digit");
        }
    }

    public Journal open(JournalOptions options) throws IOException {
        String group = options.group();
        checkGroupName(group);
        synchronized (this) {
            if (open.containsKey(group) || opening.contains(group)) {
                throw new IllegalStateException("the journal of group " + group + " is already open");
            }
            opening.add(group);
        }
        // Recovery may read the whole journal: do it without blocking status and other groups.
        FileJournal j = null;
        try {
            j = FileJournal.open(storage, root, options, settings, executor, this::closed);
            return j;
        } finally {
            synchronized (this) {
                opening.remove(group);
                if (j != null) {
                    open.put(group, j);
                }
            }
        }
    }

    private synchronized void closed(FileJournal j) {
        open.remove(j.group(), j);
    }

    public synchronized void delete(String group) throws IOException {
        checkGroupName(group);
        if (open.containsKey(group) || opening.contains(group)) {
            throw new IllegalStateException("the journal of group " + group + " is open; close it before deleting it");
        }
        Path dir = root.resolve(group);
        if (!storage.exists(dir)) {
            throw new IllegalArgumentException("there is no journal of group " + group + " in " + root);
        }
        for (Path p : storage.list(dir)) {
            storage.deleteIfExists(p);
        }
        storage.deleteIfExists(dir);
        LOG.info("Deleted the journal of group {}", group);
    }

    public List<String> list() throws IOException {
        List<String> out = new ArrayList<>();
        for (Path p : storage.list(root)) {
            if (storage.exists(p.resolve(FileJournal.META))) {
                out.add(p.getFileName().toString());
            }
        }
        return out;
    }

    public List<JournalStatus> status() {
        List<FileJournal> js;
        synchronized (this) {
            js = new ArrayList<>(open.values());
        }
        List<JournalStatus> out = new ArrayList<>();
        for (FileJournal j : js) {
            out.add(j.status());
        }
        out.sort(Comparator.comparing(JournalStatus::group));
        return out;
    }

    /** Closes every open journal (cleanly where the checkpoint reached the head). */
    public void closeAll() {
        List<FileJournal> js;
        synchronized (this) {
            js = new ArrayList<>(open.values());
        }
        for (FileJournal j : js) {
            try {
                j.close();
            } catch (IOException | RuntimeException e) {
                LOG.error("Closing the journal of group {} failed", j.group(), e);
            }
        }
    }
}
