package io.doppel.nbd.command;

import io.doppel.nbd.internal.NbdAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "export-remove", description = "Stops exporting a volume or snapshot over NBD")
public class ExportRemoveCommand implements Action {

    @Reference
    NbdAdmin nbd;

    @Argument(index = 0, name = "name", description = "Export to remove", required = true)
    @Completion(ExportNameCompleter.class)
    String name;

    @Option(name = "-f", aliases = "--force",
            description = "Remove it even while clients use it (they are disconnected)")
    boolean force;

    @Override
    public Object execute() throws Exception {
        int dropped = nbd.removeExport(name, force);
        System.out.println("Removed export " + name + (dropped == 0 ? "" : "; disconnected " + dropped + " client(s)"));
        return null;
    }
}
