package io.doppel.engine.command;

import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;
import io.doppel.api.units.ByteSize;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "pair-list", description = "Lists the pairs of this site with their state and lag")
public final class PairListCommand implements Action {

    @Reference
    PairService pairs;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "--no-format", description = "Plain table output")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        if (json) {
            Json.print(System.out, pairs.pairs());
            return null;
        }
        ShellTable t = new ShellTable();
        for (String c : new String[] {"Group", "Peer", "Role", "Mode", "State", "Outdated", "Consistent", "Head",
                "Journaled", "Applied", "Lag", "Rate/s", "Resync", "Map blocks", "Detail"}) {
            t.column(c);
        }
        for (PairInfo p : pairs.pairs()) {
            String resync = p.resyncBlocks() == 0 ? "" : p.resyncDone() + "/" + p.resyncBlocks();
            t.addRow().addContent(p.group(), p.peer(), p.role(), p.mode(), p.state(), p.outdated() ? "yes" : "no",
                    p.consistent() ? "yes" : "no", p.head(), p.journaled(), p.applied(), p.lagRecords() + " rec",
                    ByteSize.format((long) p.bytesPerSecond()), resync, p.mapBlocks(), p.detail());
        }
        t.print(System.out, !noFormat);
        return null;
    }
}
