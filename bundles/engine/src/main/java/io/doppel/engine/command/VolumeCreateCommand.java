package io.doppel.engine.command;

import io.doppel.api.group.GroupService;
import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.VolumeInfo;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "volume-create", description = "Creates a sparse volume in a group")
public final class VolumeCreateCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "name", required = true, description = "Volume name")
    String name;

    @Argument(index = 1, name = "size", required = true, description = "Size, e.g. 10G (a multiple of 4 KiB)")
    String size;

    @Option(name = "-g", aliases = "--group", description = "Consistency group (default: default)")
    @Completion(GroupNameCompleter.class)
    String group = "default";

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        VolumeInfo v = groups.createVolume(name, ByteSize.parse(size).bytes(), group);
        if (json) {
            Json.print(System.out, v);
        } else {
            System.out.println("Created volume " + v.name() + " (" + ByteSize.format(v.size()) + ", group " + v.group()
                    + ", id " + v.id() + ") in " + v.directory());
        }
        return null;
    }
}
