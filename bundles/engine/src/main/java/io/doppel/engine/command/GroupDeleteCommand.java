package io.doppel.engine.command;

import io.doppel.api.group.GroupService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "group-delete", description = "Deletes an empty group and its journal")
public final class GroupDeleteCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "name", required = true, description = "Group name")
    @Completion(GroupNameCompleter.class)
    String name;

    @Override
    public Object execute() throws Exception {
        groups.deleteGroup(name);
        System.out.println("Deleted group " + name);
        return null;
    }
}
