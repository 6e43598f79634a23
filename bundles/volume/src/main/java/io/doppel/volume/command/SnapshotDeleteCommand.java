package io.doppel.volume.command;

import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "snapshot-delete", description = "Deletes a snapshot; blocks an older snapshot"
        + " still needs are handed to it first")
public class SnapshotDeleteCommand implements Action {

    @Reference
    VolumeService volumes;

    @Argument(index = 0, name = "volume", description = "The volume", required = true)
    @Completion(VolumeNameCompleter.class)
    String volume;

    @Argument(index = 1, name = "snapshot", description = "The snapshot to delete", required = true)
    @Completion(SnapshotNameCompleter.class)
    String snapshot;

    @Override
    public Object execute() throws Exception {
        try (Volume v = volumes.open(volume)) {
            SnapshotInfo s = v.snapshots().stream().filter(x -> x.name().equals(snapshot)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("volume " + volume + " has no snapshot named '"
                            + snapshot + "'"));
            System.out.println("Deleting snapshot " + volume + "@" + snapshot + " (" + ByteSize.format(s.preservedBytes())
                    + " preserved)...");
            v.deleteSnapshot(snapshot);
        }
        System.out.println("Snapshot " + volume + "@" + snapshot + " deleted");
        return null;
    }
}
