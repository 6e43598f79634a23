package io.doppel.engine.command;

import io.doppel.api.group.GroupService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "snapshot-rollback",
        description = "Makes a volume equal to one of its snapshots (refused while hosts have it open read-write)")
public final class SnapshotRollbackCommand implements Action {

    @Reference
    GroupService groups;

    @Argument(index = 0, name = "volume", required = true, description = "Volume name")
    @Completion(VolumeNameCompleter.class)
    String volume;

    @Argument(index = 1, name = "snapshot", required = true, description = "Snapshot name")
    String snapshot;

    @Override
    public Object execute() throws Exception {
        System.out.println("Rolling " + volume + " back to " + snapshot + " ...");
        long t0 = System.nanoTime();
        groups.rollback(volume, snapshot);
        System.out.println("Volume " + volume + " now equals snapshot " + snapshot + " ("
                + (System.nanoTime() - t0) / 1_000_000 + " ms)");
        return null;
    }
}
