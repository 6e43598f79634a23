package io.doppel.engine.command;

import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "pair-create",
        description = "Keeps a copy of a group at a peer site: sync (writes complete once the peer journaled them) or async (the peer pulls)")
public final class PairCreateCommand implements Action {

    @Reference
    PairService pairs;

    @Option(name = "-m", aliases = "--mode", required = true, description = "sync or async")
    String mode;

    @Option(name = "-p", aliases = "--lost-peer", description = "sync only: continue (mark the peer Outdated and go on) or suspend-io (hold writes); default continue")
    String policy = "continue";

    @Option(name = "-w", aliases = "--wait", description = "Wait for the initial copy, printing progress")
    boolean waitForCopy;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Argument(index = 0, name = "group", required = true, description = "Group to copy")
    @Completion(GroupNameCompleter.class)
    String group;

    @Argument(index = 1, name = "peer", required = true, description = "Peer site (see doppel:peer-list)")
    String peer;

    @Override
    public Object execute() throws Exception {
        PairInfo p = pairs.create(group, peer, mode, policy);
        if (waitForCopy) {
            p = PairStatusCommand.waitForCopy(pairs, group, peer, json);
        }
        if (json) {
            Json.print(System.out, p);
        } else {
            System.out.println("Pair " + p.id() + ": group " + group + " to " + peer + " (" + p.mode() + "), " + p.state());
        }
        return null;
    }
}
