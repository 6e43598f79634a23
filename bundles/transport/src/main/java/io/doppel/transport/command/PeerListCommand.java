package io.doppel.transport.command;

import java.util.List;
import java.util.Locale;

import io.doppel.api.transport.PeerInfo;
import io.doppel.api.units.ByteSize;
import io.doppel.transport.internal.TransportAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "peer-list", description = "Lists the peer sites and the state of their links")
public class PeerListCommand implements Action {

    @Reference
    TransportAdmin transport;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "--no-format", description = "Plain table without borders")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        List<PeerInfo> peers = transport.peers();
        if (json) {
            System.out.println(Json.write(peers.stream().map(PeerRow::of).toList()));
            return null;
        }
        ShellTable table = new ShellTable().emptyTableText("no peers (add one with doppel:peer-add)");
        table.column("Name");
        table.column("Address");
        table.column("State");
        table.column("Detail");
        table.column("Site id");
        table.column("RTT").alignRight();
        table.column("In").alignRight();
        table.column("Out").alignRight();
        table.column("Fingerprint");
        for (PeerInfo p : peers) {
            table.addRow().addContent(p.name(), p.address().isEmpty() ? "-" : p.address(), p.state(), p.detail(),
                    p.siteId().isEmpty() ? "-" : p.siteId(), rtt(p.rttMicros()), ByteSize.format(p.bytesReceived()),
                    ByteSize.format(p.bytesSent()), p.fingerprint());
        }
        table.print(System.out, !noFormat);
        return null;
    }

    static String rtt(long micros) {
        if (micros < 0) {
            return "-";
        }
        return micros < 1000 ? micros + " us" : String.format(Locale.ROOT, "%.1f ms", micros / 1000.0);
    }
}
