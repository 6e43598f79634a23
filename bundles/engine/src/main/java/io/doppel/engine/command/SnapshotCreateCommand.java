package io.doppel.engine.command;

import java.util.List;

import io.doppel.api.group.GroupService;
import io.doppel.api.volume.SnapshotInfo;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "snapshot-create",
        description = "Takes a copy-on-write snapshot of a volume, or with --group of every volume of a group at one journal position")
public final class SnapshotCreateCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "target", required = true, description = "Volume name (or group name with --group)")
    @Completion(VolumeNameCompleter.class)
    String target;

    @Argument(index = 1, name = "snapshot", required = true, description = "Snapshot name")
    String snapshot;

    @Option(name = "-g", aliases = "--group", description = "TARGET names a group: snapshot all its volumes consistently")
    boolean group;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        List<SnapshotInfo> made = group ? groups.snapshotGroup(target, snapshot) : List.of(groups.snapshot(target, snapshot));
        if (json) {
            Json.print(System.out, made);
        } else {
            for (SnapshotInfo s : made) {
                System.out.println("Created snapshot " + s.volume() + "@" + s.name());
            }
        }
        return null;
    }
}
