package io.doppel.nbd.command;

import io.doppel.nbd.internal.Export;
import io.doppel.nbd.internal.ExportStatus;
import io.doppel.nbd.internal.NbdAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "export-add", description = "Exports a volume, or a snapshot of it, over NBD")
public class ExportAddCommand implements Action {

    @Reference
    NbdAdmin nbd;

    @Argument(index = 0, name = "name", description = "Export name clients ask for", required = true)
    String name;

    @Option(name = "-v", aliases = "--volume", description = "Volume to serve (default: the export name)")
    String volume;

    @Option(name = "-s", aliases = "--snapshot", description = "Serve this snapshot of the volume (always read-only)")
    String snapshot;

    @Option(name = "-r", aliases = "--read-only", description = "Refuse writes")
    boolean readOnly;

    @Option(name = "-d", aliases = "--description", description = "Text shown to clients that list the exports")
    String description;

    @Option(name = "-j", aliases = "--json", description = "Print the new export as JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        Export export = new Export(name, volume == null ? name : volume, snapshot, readOnly, description);
        ExportStatus added = nbd.addExport(export);
        if (json) {
            System.out.println(Json.write(added));
        } else {
            System.out.println("Exported " + export.target() + " " + export.mode() + " as " + added.uri());
        }
        return null;
    }
}
