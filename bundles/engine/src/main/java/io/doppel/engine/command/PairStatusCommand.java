package io.doppel.engine.command;

import io.doppel.api.pair.PairInfo;
import io.doppel.api.pair.PairService;
import io.doppel.api.units.ByteSize;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "pair-status", description = "Shows one pair in detail: state, positions, lag, rate, resync progress")
public final class PairStatusCommand implements Action {

    @Reference
    PairService pairs;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Option(name = "-w", aliases = "--wait", description = "Wait until the pair is in sync or replicating, printing progress")
    boolean waitForCopy;

    @Argument(index = 0, name = "group", required = true, description = "Group")
    @Completion(GroupNameCompleter.class)
    String group;

    @Argument(index = 1, name = "peer", required = true, description = "Peer site")
    String peer;

    @Override
    public Object execute() throws Exception {
        PairInfo p = waitForCopy ? waitForCopy(pairs, group, peer, json) : find(pairs, group, peer);
        if (json) {
            Json.print(System.out, p);
            return null;
        }
        System.out.println("Pair        " + p.id() + " (" + p.role() + ", " + p.mode()
                + ("sync".equals(p.mode()) ? ", lost peer: " + p.lostPeerPolicy() : "") + ")");
        System.out.println("Group       " + p.group() + " with " + p.peer());
        System.out.println("State       " + p.state() + (p.detail().isEmpty() ? "" : " (" + p.detail() + ")") + " since " + p.since());
        System.out.println("Outdated    " + (p.outdated() ? "YES: the secondary lacks acknowledged writes" : "no"));
        System.out.println("Consistent  " + (p.consistent() ? "yes" : "no"));
        System.out.println("Positions   head " + p.head() + ", sent " + p.sent() + ", journaled " + p.journaled()
                + ", durable " + p.durable() + ", applied " + p.applied());
        System.out.printf("Lag         %d records, about %s, %.1f s%n", p.lagRecords(), ByteSize.format(p.lagBytes()), p.lagSeconds());
        System.out.println("Rate        " + ByteSize.format((long) p.bytesPerSecond()) + "/s");
        if (p.resyncBlocks() > 0) {
            System.out.printf("Resync      %d of %d blocks (%.0f%%)%n", p.resyncDone(), p.resyncBlocks(),
                    100.0 * p.resyncDone() / p.resyncBlocks());
        }
        System.out.println("Map         " + p.mapBlocks() + " blocks the peer may lack");
        if (p.pullDelayMillis() > 0 || !p.pullReason().isEmpty()) {
            System.out.println("Pull        every " + p.pullDelayMillis() + " ms (" + p.pullReason() + ")");
        }
        return null;
    }

    static PairInfo find(PairService pairs, String group, String peer) {
        return pairs.pair(group, peer).orElseThrow(
                () -> new IllegalArgumentException("group " + group + " has no pair with " + peer + " at this site"));
    }

    /** Polls until the initial copy or resync is done, printing a progress line every second. */
    static PairInfo waitForCopy(PairService pairs, String group, String peer, boolean quiet) throws InterruptedException {
        long last = 0;
        while (true) {
            PairInfo p = find(pairs, group, peer);
            boolean done = ("in-sync".equals(p.state()) || "replicating".equals(p.state())) && p.mapBlocks() == 0;
            if (done || "failed".equals(p.state())) {
                return p;
            }
            if (!quiet && System.currentTimeMillis() - last >= 1000) {
                last = System.currentTimeMillis();
                String progress = p.resyncBlocks() == 0 ? "" : String.format(" %d/%d blocks (%.0f%%)", p.resyncDone(),
                        p.resyncBlocks(), 100.0 * p.resyncDone() / p.resyncBlocks());
                System.out.println("  " + p.state() + progress + ", lag " + p.lagRecords() + " records");
            }
            Thread.sleep(200); // polling interval while an operator waits
        }
    }
}
