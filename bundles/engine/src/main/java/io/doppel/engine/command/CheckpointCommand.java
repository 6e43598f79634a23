package io.doppel.engine.command;

import io.doppel.api.group.GroupService;
import io.doppel.api.journal.Position;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "checkpoint", description = "Forces a group's volumes now and releases the journal records they cover")
public final class CheckpointCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "group", required = true, description = "Group name")
    @Completion(GroupNameCompleter.class)
    String group;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        Position p = groups.checkpoint(group);
        if (json) {
            Json.print(System.out, java.util.Map.of("group", group, "checkpoint", p.toString()));
        } else {
            System.out.println("Group " + group + ": volumes durable through " + p);
        }
        return null;
    }
}
