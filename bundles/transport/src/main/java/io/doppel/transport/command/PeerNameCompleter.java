package io.doppel.transport.command;

import java.util.List;

import io.doppel.api.transport.PeerInfo;
import io.doppel.transport.internal.TransportAdmin;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the names of the peers. */
@Service
public class PeerNameCompleter implements Completer {

    @Reference
    TransportAdmin transport;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        StringsCompleter names = new StringsCompleter();
        for (PeerInfo p : transport.peers()) {
            names.getStrings().add(p.name());
        }
        return names.complete(session, commandLine, candidates);
    }
}
