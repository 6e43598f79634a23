package io.doppel.volume.command;

import java.io.IOException;
import java.util.List;

import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the snapshot names of the volume named by the command's first argument. */
@Service
public class SnapshotNameCompleter implements Completer {

    @Reference
    VolumeService volumes;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        StringsCompleter delegate = new StringsCompleter();
        String volume = volumeArgument(commandLine.getArguments(), commandLine.getCursorArgumentIndex());
        if (volume != null && volumes.find(volume).isPresent()) {
            try (Volume v = volumes.open(volume)) {
                for (SnapshotInfo s : v.snapshots()) {
                    delegate.getStrings().add(s.name());
                }
            } catch (IOException | RuntimeException e) {
                return -1; // nothing to offer for a volume that cannot be opened
            }
        }
        return delegate.complete(session, commandLine, candidates);
    }

    /** The first argument after the command name that is not an option, if it precedes the cursor. */
    static String volumeArgument(String[] args, int cursor) {
        for (int i = 1; i < args.length && i < cursor; i++) {
            if (!args[i].startsWith("-")) {
                return args[i];
            }
        }
        return null;
    }
}
