package io.doppel.engine.command;

import io.doppel.api.group.GroupInfo;
import io.doppel.api.group.GroupService;
import io.doppel.api.units.ByteSize;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "group-list", description = "Lists consistency groups with their state and journal positions")
public final class GroupListCommand implements Action {

    @Reference
    GroupService groups;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "--no-format", description = "Plain table output")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        if (json) {
            Json.print(System.out, groups.groups());
            return null;
        }
        ShellTable t = new ShellTable();
        t.column("Group");
        t.column("Id");
        t.column("State");
        t.column("Volumes");
        t.column("Keeps");
        t.column("Head");
        t.column("Applied");
        t.column("Checkpoint");
        t.column("Journal limit");
        t.column("Detail");
        for (GroupInfo g : groups.groups()) {
            t.addRow().addContent(g.name(), g.id(), g.state(), String.join(",", g.volumes()),
                    g.journalOnly() ? "journal only" : "journal+data", g.head(), g.applied(),
                    g.checkpoint(), ByteSize.format(g.journalCapacity()), g.detail() == null ? "" : g.detail());
        }
        t.print(System.out, !noFormat);
        return null;
    }
}
