package io.doppel.volume.command;

import java.util.List;

import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.PoolDirectory;
import io.doppel.api.volume.VolumeService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "pool", description = "Shows the data directories volumes are allocated from")
public class PoolCommand implements Action {

    @Reference
    VolumeService volumes;

    @Option(name = "-j", aliases = "--json", description = "Print JSON instead of a table")
    boolean json;

    @Option(name = "--no-format", description = "Print the table without borders")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        List<PoolDirectory> pool = volumes.pool();
        if (json) {
            System.out.println(Json.write(pool));
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Directory");
        table.column("Total").alignRight();
        table.column("Usable").alignRight();
        table.column("Volumes").alignRight();
        table.column("Provisioned").alignRight();
        for (PoolDirectory d : pool) {
            // A directory that cannot be created or read reports no space; the log says why.
            boolean broken = d.totalBytes() == 0;
            table.addRow().addContent(d.path(), broken ? "unusable (see log)" : ByteSize.format(d.totalBytes()),
                    ByteSize.format(d.usableBytes()), d.volumes(), ByteSize.format(d.provisioned()));
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
