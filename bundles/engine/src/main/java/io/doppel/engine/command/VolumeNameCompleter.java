package io.doppel.engine.command;

import java.util.List;

import io.doppel.api.group.GroupInfo;
import io.doppel.api.group.GroupService;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

@Service
public final class VolumeNameCompleter implements Completer {

    @Reference
    GroupService groups;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        StringsCompleter delegate = new StringsCompleter();
        for (GroupInfo g : groups.groups()) {
            delegate.getStrings().addAll(g.volumes());
        }
        return delegate.complete(session, commandLine, candidates);
    }
}
