package io.doppel.journal.command;

import java.io.IOException;
import java.util.List;
import java.util.TreeSet;

import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.JournalStatus;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the names of groups whose journal is open or on disk. */
@Service
public class GroupCompleter implements Completer {

    @Reference
    JournalService journals;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        TreeSet<String> names = new TreeSet<>();
        for (JournalStatus s : journals.status()) {
            names.add(s.group());
        }
        try {
            names.addAll(journals.list());
        } catch (IOException e) {
            // completion offers what is open; listing the disk is a bonus
        }
        return new StringsCompleter(names).complete(session, commandLine, candidates);
    }
}
