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
@Command(scope = "doppel", name = "failback", description = "Hands a group's primary role to its peer by a planned switch: writes here stop, the peer takes every record and the writes; no copy")
public final class FailbackCommand implements Action {

    @Reference
    FailoverService failover;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    String group;

    @Override
    public Object execute() throws Exception {
        if (!json) {
            System.out.println("Handing " + group + " over: host writes here are refused from now on; waiting for the peer...");
        }
        FailoverStatus s = failover.failback(group);
        if (json) {
            Json.print(System.out, s);
            return null;
        }
        System.out.println("Group " + group + " is now the secondary of " + s.peer() + " here (" + s.pairState() + ")");
        return null;
    }
}
