package io.doppel.nbd.command;

import io.doppel.api.units.ByteSize;
import io.doppel.nbd.internal.ConnectionStatus;
import io.doppel.nbd.internal.NbdAdmin;
import io.doppel.nbd.internal.NbdStatus;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "nbd-status",
        description = "Shows the NBD server's address and its client connections")
public class NbdStatusCommand implements Action {

    @Reference
    NbdAdmin nbd;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "--no-format", description = "Plain table without borders")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        NbdStatus status = nbd.status();
        if (json) {
            System.out.println(Json.write(status));
            return null;
        }
        System.out.println((status.up() ? "Listening on " : "Not listening: ") + status.listening());
        ShellTable table = new ShellTable().emptyTableText("no connections");
        table.column("Remote");
        table.column("Export");
        table.column("Requests").alignRight();
        table.column("Bytes in").alignRight();
        table.column("Bytes out").alignRight();
        table.column("In flight").alignRight();
        for (ConnectionStatus c : status.connections()) {
            table.addRow().addContent(c.remote(), c.export().isEmpty() ? "(negotiating)" : c.export(), c.requests(),
                    ByteSize.format(c.bytesIn()), ByteSize.format(c.bytesOut()), c.inFlight());
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
