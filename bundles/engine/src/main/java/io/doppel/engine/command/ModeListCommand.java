package io.doppel.engine.command;

import java.util.List;

import io.doppel.api.copy.CopyModeInfo;
import io.doppel.api.pair.PairService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Service
@Command(scope = "doppel", name = "mode-list", description = "Lists the copy modes bound at this site: what each does, the bundle and version providing it, its pairs")
public final class ModeListCommand implements Action {

    @Reference
    PairService pairs;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        List<CopyModeInfo> modes = pairs.copyModes();
        if (json) {
            Json.print(System.out, modes);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Mode");
        table.column("Transfer");
        table.column("Host writes wait");
        table.column("Apply");
        table.column("Codec");
        table.column("Bundle");
        table.column("Version");
        table.column("Pairs");
        table.column("Runs here");
        for (CopyModeInfo m : modes) {
            table.addRow().addContent(m.name(), m.transfer(), m.waitsForPeer() ? "yes" : "no", m.apply(), m.codec(), m.bundle(),
                    m.version(), m.pairs(), m.runnable() == null ? "yes" : m.runnable());
        }
        table.print(System.out);
        return null;
    }
}
