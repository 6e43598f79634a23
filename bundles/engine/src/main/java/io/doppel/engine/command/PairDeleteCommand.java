package io.doppel.engine.command;

import io.doppel.api.pair.PairService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "pair-delete", description = "Ends the pair at both sites; the peer keeps its volumes")
public final class PairDeleteCommand implements Action {

    @Reference
    PairService pairs;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    @Completion(GroupNameCompleter.class)
    String group;

    @Argument(index = 1, name = "peer", required = true, description = "Peer site")
    String peer;

    @Option(name = "--local", description = "At a secondary: end the pair from PEER here only, without telling PEER"
            + " (a primary that is gone, or deleted the pair while this site was unreachable)")
    boolean local;

    @Override
    public Object execute() throws Exception {
        if (local) {
            pairs.deleteTarget(group, peer);
            System.out.println("Pair of group " + group + " from " + peer + ": ended at this site; " + group
                    + " takes host writes again");
            return null;
        }
        pairs.delete(group, peer);
        System.out.println("Pair of group " + group + " with " + peer + ": deleted");
        return null;
    }
}
