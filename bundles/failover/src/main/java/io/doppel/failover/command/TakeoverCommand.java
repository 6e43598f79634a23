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
@Command(scope = "doppel", name = "takeover", description = "Makes this site, a group's secondary, its primary: applies what it holds, opens a new epoch and takes host writes")
public final class TakeoverCommand implements Action {

    @Reference
    FailoverService failover;

    @Option(name = "-f", aliases = "--force", description = "Take over an Outdated or inconsistent copy (writes the primary acknowledged after this site's head are lost)")
    boolean force;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    String group;

    @Override
    public Object execute() throws Exception {
        FailoverStatus s = failover.takeover(group, force);
        if (json) {
            Json.print(System.out, s);
            return null;
        }
        System.out.println("Group " + group + " is now primary here in epoch " + s.epoch() + " (head " + s.head()
                + "); its writes are kept for " + s.peer() + ", which gets only the blocks that differ when it returns");
        System.out.println(s.lastDecision());
        return null;
    }
}
