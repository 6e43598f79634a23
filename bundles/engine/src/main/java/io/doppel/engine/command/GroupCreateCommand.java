package io.doppel.engine.command;

import io.doppel.api.group.GroupInfo;
import io.doppel.api.group.GroupService;
import io.doppel.api.units.ByteSize;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "group-create", description = "Creates a consistency group (volumes that share one journal)")
public final class GroupCreateCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "name", required = true, description = "Group name")
    String name;

    @Option(name = "-c", aliases = "--journal-capacity", description = "Journal size limit, e.g. 2G (default: the journal service's)")
    String capacity;

    @Option(name = "--journal-only", description = "Keep a journal but no volume data: the middle site of a cascade,"
            + " which relays its source's records and passes to the pairs from it")
    boolean journalOnly;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        long cap = capacity == null ? 0 : ByteSize.parse(capacity).bytes();
        GroupInfo g = groups.createGroup(name, cap, journalOnly);
        if (json) {
            Json.print(System.out, g);
        } else {
            System.out.println("Created " + (g.journalOnly() ? "journal-only " : "") + "group " + g.name() + " (id " + g.id()
                    + ", journal " + ByteSize.format(g.journalCapacity()) + ")");
        }
        return null;
    }
}
