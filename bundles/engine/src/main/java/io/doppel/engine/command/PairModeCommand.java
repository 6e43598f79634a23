package io.doppel.engine.command;

import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.completers.StringsCompleter;

@Service
@Command(scope = "doppel", name = "pair-mode", description = "Switches a pair's copy mode (sync or async) while hosts write; with --wait, until the pair is in sync or replicating again")
public final class PairModeCommand implements Action {

    @Reference
    PairService pairs;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "-w", aliases = "--wait", description = "Wait until the pair is in sync (sync) or replicating (async), printing progress")
    boolean waitForMode;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    @Completion(GroupNameCompleter.class)
    String group;

    @Argument(index = 1, name = "peer", required = true, description = "Peer site")
    String peer;

    @Argument(index = 2, name = "mode", required = true, description = "sync or async")
    @Completion(value = StringsCompleter.class, values = {"sync", "async"})
    String mode;

    @Override
    public Object execute() throws Exception {
        PairInfo before = PairStatusCommand.find(pairs, group, peer);
        PairInfo p = pairs.changeMode(group, peer, mode);
        if (waitForMode) {
            p = awaitMode(json);
        }
        if (json) {
            Json.print(System.out, p);
            return null;
        }
        System.out.println("Pair of group " + group + " with " + peer + ": " + before.mode() + " -> " + p.mode()
                + ", now " + p.state() + (p.detail().isEmpty() ? "" : " (" + p.detail() + ")"));
        return null;
    }

    /** Polls until the pair runs in its new mode with an empty map, printing a line every second. */
    private PairInfo awaitMode(boolean quiet) throws InterruptedException {
        String want = "sync".equals(mode) ? "in-sync" : "replicating";
        long last = 0;
        while (true) {
            PairInfo p = PairStatusCommand.find(pairs, group, peer);
            if (mode.equals(p.mode()) && want.equals(p.state()) && p.mapBlocks() == 0 || "failed".equals(p.state())) {
                return p;
            }
            if (!quiet && System.currentTimeMillis() - last >= 1000) {
                last = System.currentTimeMillis();
                System.out.printf("%s: %s, %d records behind%n", p.state(), p.detail().isEmpty() ? "" : p.detail(), p.lagRecords());
            }
            Thread.sleep(200);
        }
    }
}
