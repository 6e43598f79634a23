package io.doppel.engine.command;

import io.doppel.api.group.GroupInfo;
import io.doppel.engine.internal.EngineStatus;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "status", description = "Shows the site, whether I/O is served, the groups and any refused configuration")
public final class StatusCommand implements Action {

    @Reference
    EngineStatus engine;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        EngineStatus.Status s = engine.status();
        if (json) {
            Json.print(System.out, s);
            return null;
        }
        System.out.println("Site      " + s.siteName() + " (" + s.siteId() + ")");
        System.out.println("Home      " + s.home());
        System.out.println("I/O       " + (s.serving() ? "serving" : "held: " + s.heldBecause()));
        System.out.println("Services  volume " + (s.volumeService() ? "present" : "ABSENT") + ", journal "
                + (s.journalService() ? "present" : "ABSENT"));
        for (GroupInfo g : s.groups()) {
            System.out.println("Group     " + g.name() + (g.journalOnly() ? " (journal only)" : "") + ": " + g.state() + (g.detail() == null ? "" : " (" + g.detail() + ")")
                    + ", volumes " + String.join(",", g.volumes()) + ", head " + g.head() + ", checkpoint " + g.checkpoint());
        }
        for (String p : s.configProblems()) {
            System.out.println("Config    refused: " + p);
        }
        return null;
    }
}
