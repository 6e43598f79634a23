package io.doppel.itests.scenario;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.ProcessResult;
import io.doppel.itests.harness.Processes;
import io.doppel.itests.tools.FaultProxy;
import java.time.Duration;
import org.awaitility.core.ConditionTimeoutException;
import java.util.function.Predicate;

/** Steps of the replication scenarios: trusting peers, making pairs, waiting for their states. */
final class Sites {

    private Sites() {
    }

    /** {@code doppel:site-id --json}'s fingerprint. */
    static String fingerprint(Appliance site) {
        return site.execJson("doppel:site-id --json").path("fingerprint").asText();
    }

    /**
     * Makes {@code primary} and {@code secondary} trust each other. The primary dials the
     * secondary through {@code proxy} (so that a test can cut or count the link); the secondary
     * has no address for the primary and only answers, so the link never goes around the proxy.
     */
    static void connect(Appliance primary, Appliance secondary, FaultProxy proxy) {
        primary.execOk("doppel:peer-add --fingerprint " + fingerprint(secondary) + " " + secondary.name() + " "
                + "127.0.0.1:" + proxy.port());
        secondary.execOk("doppel:peer-add --fingerprint " + fingerprint(primary) + " " + primary.name());
    }

    /** A fault proxy in front of {@code site}'s transport port. */
    static FaultProxy proxyTo(Appliance site) {
        return FaultProxy.start("127.0.0.1", site.transportPort());
    }

    /** {@code doppel:pair-status --json GROUP PEER} at {@code site}. */
    static JsonNode pair(Appliance site, String group, String peer) {
        return site.execJson("doppel:pair-status --json " + group + " " + peer);
    }

    /** Waits until the pair, seen from {@code site}, satisfies {@code condition}; returns its status. */
    static JsonNode awaitPair(Appliance site, String group, String peer, String what, Duration timeout,
                              Predicate<JsonNode> condition) {
        JsonNode[] last = new JsonNode[1];
        try {
            await(site.name() + "'s pair " + group + "/" + peer + " " + what).atMost(timeout)
                    .pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                    .until(() -> condition.test(last[0] = pair(site, group, peer)));
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(e.getMessage() + "; last status: " + last[0], e);
        }
        return last[0];
    }

    /** Waits until the secondary has applied everything the primary journaled (the primary idle). */
    static JsonNode awaitCaughtUp(Appliance primary, String group, String peer, Duration timeout) {
        return awaitPair(primary, group, peer, "to be caught up", timeout, p -> p.path("consistent").asBoolean()
                && p.path("lagRecords").asLong() == 0 && seq(p, "applied") == seq(p, "head")
                && seq(p, "head") == seq(Scenario.journal(primary, group), "head"));
    }

    /** The seq of a position as the commands print it: {@code "EPOCH/SEQ"} or {@code {"epoch":E,"seq":S}}. */
    static long seq(JsonNode node, String field) {
        JsonNode position = node.path(field);
        if (position.isObject()) {
            return position.path("seq").asLong();
        }
        String text = position.asText();
        return Long.parseLong(text.substring(text.indexOf('/') + 1));
    }

    /** {@code qemu-img compare} of two NBD exports; the result tells whether they are equal. */
    static ProcessResult compare(String uriA, String uriB) {
        return Processes.run(Duration.ofMinutes(2), "qemu-img", "compare", "-f", "raw", "-F", "raw", uriA, uriB);
    }
}
