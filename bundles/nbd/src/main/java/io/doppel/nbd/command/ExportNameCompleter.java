package io.doppel.nbd.command;

import java.util.List;

import io.doppel.nbd.internal.ExportStatus;
import io.doppel.nbd.internal.NbdAdmin;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the names of the NBD exports. */
@Service
public class ExportNameCompleter implements Completer {

    @Reference
    NbdAdmin nbd;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        StringsCompleter names = new StringsCompleter();
        for (ExportStatus e : nbd.exports()) {
            names.getStrings().add(e.name());
        }
        return names.complete(session, commandLine, candidates);
    }
}
