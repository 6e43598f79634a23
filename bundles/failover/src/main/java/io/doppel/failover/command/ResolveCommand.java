package io.doppel.failover.command;

import io.doppel.api.failover.FailoverService;
import io.doppel.api.failover.FailoverStatus;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "resolve", description = "Ends a split-brain: one side keeps its writes, the other keeps its divergent blocks in a snapshot and is resynced from it")
public final class ResolveCommand implements Action {

    @Reference
    FailoverService failover;

    @Option(name = "-k", aliases = "--keep", required = true, description = "The site whose writes are kept: this site's name, or the peer's")
    String keep;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    String group;

    @Override
    public Object execute() throws Exception {
        FailoverStatus s = failover.resolve(group, keep);
        if (json) {
            Json.print(System.out, s);
            return null;
        }
        System.out.println("Group " + group + ": " + s.lastDecision() + "; the other side's divergent blocks stay in its"
                + " diverged-... snapshot. Now " + s.role() + ", " + s.pairState());
        return null;
    }
}
