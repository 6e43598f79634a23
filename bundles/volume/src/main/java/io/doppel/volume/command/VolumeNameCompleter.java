package io.doppel.volume.command;

import java.util.List;

import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes volume names. */
@Service
public class VolumeNameCompleter implements Completer {

    @Reference
    VolumeService volumes;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        StringsCompleter delegate = new StringsCompleter();
        for (VolumeInfo v : volumes.list()) {
            delegate.getStrings().add(v.name());
        }
        return delegate.complete(session, commandLine, candidates);
    }
}
