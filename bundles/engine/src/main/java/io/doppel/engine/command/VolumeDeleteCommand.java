package io.doppel.engine.command;

import io.doppel.api.group.GroupService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "volume-delete", description = "Deletes a volume and its snapshots (refused while it is exported or open)")
public final class VolumeDeleteCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "name", required = true, description = "Volume name")
    @Completion(VolumeNameCompleter.class)
    String name;

    @Override
    public Object execute() throws Exception {
        groups.deleteVolume(name);
        System.out.println("Deleted volume " + name);
        return null;
    }
}
