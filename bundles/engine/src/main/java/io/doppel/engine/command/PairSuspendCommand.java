package io.doppel.engine.command;

import io.doppel.api.pair.PairService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "pair-suspend", description = "Suspends transfer to the peer (records are kept for it or folded into its map; a sync peer is marked Outdated first)")
public final class PairSuspendCommand implements Action {

    @Reference
    PairService pairs;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    @Completion(GroupNameCompleter.class)
    String group;

    @Argument(index = 1, name = "peer", required = true, description = "Peer site")
    String peer;

    @Override
    public Object execute() throws Exception {
        pairs.suspend(group, peer);
        System.out.println("Pair of group " + group + " with " + peer + ": suspended");
        return null;
    }
}
