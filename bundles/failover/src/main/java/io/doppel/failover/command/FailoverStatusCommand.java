package io.doppel.failover.command;

import java.util.List;
import java.util.stream.Collectors;

import io.doppel.api.failover.FailoverService;
import io.doppel.api.failover.FailoverStatus;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "failover-status", description = "Roles, epochs, Outdated marks, history and the last failover decision of paired groups")
public final class FailoverStatusCommand implements Action {

    @Reference
    FailoverService failover;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Argument(index = 0, name = "group", required = false, description = "Group (all paired groups when omitted)")
    String group;

    @Override
    public Object execute() throws Exception {
        List<FailoverStatus> all = failover.failoverStatus().stream().filter(s -> group == null || s.group().equals(group))
                .collect(Collectors.toList());
        if (group != null && all.isEmpty()) {
            throw new IllegalArgumentException("group " + group + " has no pair at this site");
        }
        if (json) {
            Json.print(System.out, all);
            return null;
        }
        for (FailoverStatus s : all) {
            System.out.println("Group " + s.group() + ": " + s.role() + " of the pair with " + s.peer() + ", " + s.pairState()
                    + (s.detail().isEmpty() ? "" : " (" + s.detail() + ")"));
            System.out.println("  reign     epoch " + s.epoch() + (s.reignSite().isEmpty() ? "" : " opened by " + s.reignSite())
                    + ", head " + s.head());
            System.out.println("  marks     " + ("primary".equals(s.role()) ? (s.outdated() ? s.peer() + " is Outdated" : s.peer()
                    + " is not Outdated") : (s.outdated() ? "this site is Outdated" : "this site is not Outdated")
                    + (s.consistent() ? ", consistent" : ", inconsistent")));
            System.out.println("  policy    " + (s.policy().isEmpty() ? "none bound (takeovers are refused)" : s.policy()));
            if (!s.lastDecision().isEmpty()) {
                System.out.println("  decision  " + s.lastDecision());
            }
            if (s.fork() != null) {
                System.out.println("  fork      " + s.fork() + ", " + s.divergentBlocks() + " blocks differed at " + s.peer());
            }
            System.out.println("  history   " + s.history().stream()
                    .map(e -> e.epoch() + "@" + e.firstSeq() + " by " + e.siteId()).collect(Collectors.joining(", ")));
        }
        return null;
    }
}
