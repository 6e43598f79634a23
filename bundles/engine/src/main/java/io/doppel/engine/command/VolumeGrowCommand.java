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
@Command(scope = "doppel", name = "volume-grow", description = "Grows a volume (journaled as a resize record); NBD clients see the new size when they reconnect")
public final class VolumeGrowCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "name", required = true, description = "Volume name")
    @Completion(VolumeNameCompleter.class)
    String name;

    @Argument(index = 1, name = "size", required = true, description = "New size, e.g. 20G")
    String size;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        VolumeInfo v = groups.growVolume(name, ByteSize.parse(size).bytes());
        if (json) {
            Json.print(System.out, v);
        } else {
            System.out.println("Volume " + v.name() + " is now " + ByteSize.format(v.size()));
        }
        return null;
    }
}
