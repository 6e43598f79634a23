package io.doppel.volume.command;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.Volume;
import io.doppel.api.volume.VolumeInfo;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "volume-list", description = "Lists the volumes with their group, size, directory"
        + " and number of snapshots")
public class VolumeListCommand implements Action {

    @Reference
    VolumeService volumes;

    @Option(name = "-j", aliases = "--json", description = "Print JSON instead of a table")
    boolean json;

    @Option(name = "--no-format", description = "Print the table without borders")
    boolean noFormat;

    /**
     * One volume as listed.
     *
     * @param snapshots null when the volume cannot be opened; then {@code problem} says why
     */
    public record Row(String name, int id, String group, long size, String directory, String created,
            Integer snapshots, String problem) {
    }

    @Override
    public Object execute() throws Exception {
        List<Row> rows = new ArrayList<>();
        for (VolumeInfo v : volumes.list()) {
            Integer snapshots = null;
            String problem = null;
            try (Volume vol = volumes.open(v.name())) {
                snapshots = vol.snapshots().size();
            } catch (IOException | RuntimeException e) {
                problem = e.getMessage();
            }
            rows.add(new Row(v.name(), v.id(), v.group(), v.size(), v.directory(), v.created().toString(), snapshots,
                    problem));
        }
        if (json) {
            System.out.println(Json.write(rows));
            return null;
        }
        ShellTable table = new ShellTable().emptyTableText("no volumes");
        table.column("Name");
        table.column("Id").alignRight();
        table.column("Group");
        table.column("Size").alignRight();
        table.column("Directory");
        table.column("Snapshots").alignRight();
        for (Row r : rows) {
            table.addRow().addContent(r.name(), r.id(), r.group(), ByteSize.format(r.size()), r.directory(),
                    r.snapshots() == null ? "?" : r.snapshots());
        }
        table.print(System.out, !noFormat);
        for (Row r : rows) {
            if (r.problem() != null) {
                System.out.println("volume " + r.name() + ": " + r.problem());
            }
        }
        return null;
    }
}
