package io.doppel.volume.command;

import java.time.temporal.ChronoUnit;
import java.util.List;

import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.SnapshotInfo;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "snapshot-list", description = "Lists a volume's snapshots, oldest first, with"
        + " the old data each one holds")
public class SnapshotListCommand implements Action {

    @Reference
    VolumeService volumes;

    @Argument(index = 0, name = "volume", description = "The volume", required = true)
    @Completion(VolumeNameCompleter.class)
    String volume;

    @Option(name = "-j", aliases = "--json", description = "Print JSON instead of a table")
    boolean json;

    @Option(name = "--no-format", description = "Print the table without borders")
    boolean noFormat;

    public record Row(String volume, String name, long size, String created, long preservedBytes) {
    }

    @Override
    public Object execute() throws Exception {
        List<SnapshotInfo> snapshots;
        try (Volume v = volumes.open(volume)) {
            snapshots = v.snapshots();
        }
        if (json) {
            System.out.println(Json.write(snapshots.stream()
                    .map(s -> new Row(s.volume(), s.name(), s.size(), s.created().toString(), s.preservedBytes()))
                    .toList()));
            return null;
        }
        ShellTable table = new ShellTable().emptyTableText("volume " + volume + " has no snapshots");
        table.column("Name");
        table.column("Size").alignRight();
        table.column("Preserved").alignRight();
        table.column("Created");
        for (SnapshotInfo s : snapshots) {
            table.addRow().addContent(s.name(), ByteSize.format(s.size()), ByteSize.format(s.preservedBytes()),
                    s.created().truncatedTo(ChronoUnit.SECONDS).toString());
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
