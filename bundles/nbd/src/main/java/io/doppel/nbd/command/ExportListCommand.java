package io.doppel.nbd.command;

import java.util.List;

import io.doppel.nbd.internal.ExportStatus;
import io.doppel.nbd.internal.NbdAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "export-list", description = "Lists the NBD exports")
public class ExportListCommand implements Action {

    @Reference
    NbdAdmin nbd;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "--no-format", description = "Plain table without borders")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        List<ExportStatus> exports = nbd.exports();
        if (json) {
            System.out.println(Json.write(exports));
            return null;
        }
        ShellTable table = new ShellTable().emptyTableText("no exports");
        table.column("Name");
        table.column("URI");
        table.column("Volume");
        table.column("Snapshot");
        table.column("Mode");
        table.column("Connections").alignRight();
        for (ExportStatus e : exports) {
            table.addRow().addContent(e.name(), e.uri(), e.volume(), e.snapshot() == null ? "" : e.snapshot(),
                    e.mode(), e.connections());
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
