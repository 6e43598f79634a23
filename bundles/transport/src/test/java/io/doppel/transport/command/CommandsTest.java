package io.doppel.transport.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.doppel.api.site.SiteIdentity;
import io.doppel.api.transport.PeerInfo;
import io.doppel.storage.internal.FileStorage;
import io.doppel.transport.internal.FrameHandlers;
import io.doppel.transport.internal.TransportConfig;
import io.doppel.transport.internal.TransportService;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.console.CommandLine;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands as the shell runs them: objects with their references set, output on System.out. */
class CommandsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SOME_FINGERPRINT = "0b".repeat(32);

    private record Site(String id, String name, Path home, Instant created) implements SiteIdentity {
    }

    @TempDir
    Path tmp;

    private final List<TransportService> open = new ArrayList<>();

    @AfterEach
    void closeAll() {
        open.forEach(TransportService::close);
    }

    private TransportService start(String label) throws Exception {
        Path dir = tmp.resolve(label);
        TransportConfig config = TransportConfig.DEFAULTS.withDirectory(dir).withPort(0)
                .withTimes(100, 1000, 300, 5000);
        TransportService s = new TransportService(config, new FileStorage(),
                () -> new Site("site-" + label, label, dir, Instant.now()), new FrameHandlers(),
                new CopyOnWriteArrayList<>());
        s.start();
        open.add(s);
        return s;
    }

    /** Runs a command and returns what it printed. */
    private static String run(Action command) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(command.execute()).isNull();
        } finally {
            System.setOut(original);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static PeerAddCommand peerAdd(TransportService t, String fingerprint, String name, String address) {
        PeerAddCommand c = new PeerAddCommand();
        c.transport = t;
        c.fingerprint = fingerprint;
        c.name = name;
        c.address = address;
        return c;
    }

    @Test
    void siteIdPrintsTheFingerprintAndWhatToTypeOnTheOtherSite() throws Exception {
        TransportService a = start("a");
        SiteIdCommand c = new SiteIdCommand();
        c.transport = a;
        String out = run(c);
        assertThat(out).contains("Site id:     site-a\n").contains("Name:        a\n")
                .contains("Fingerprint: " + a.fingerprint() + "\n")
                .contains("Listening:   " + a.listenAddress() + "\n")
                .contains("On the other site: doppel:peer-add --fingerprint " + a.fingerprint() + " NAME "
                        + a.listenAddress());

        c.json = true;
        JsonNode json = JSON.readTree(run(c));
        assertThat(json.get("id").asText()).isEqualTo("site-a");
        assertThat(json.get("name").asText()).isEqualTo("a");
        assertThat(json.get("fingerprint").asText()).isEqualTo(a.fingerprint());
        assertThat(json.get("listenAddress").asText()).isEqualTo(a.listenAddress());
        assertThat(json.get("listening").asBoolean()).isTrue();
    }

    @Test
    void peerAddTrustsAPeerAndPrintsIt() throws Exception {
        TransportService a = start("a");
        String out = run(peerAdd(a, SOME_FINGERPRINT, "b", "127.0.0.1:1"));
        String canonical = ("0B:".repeat(31) + "0B");
        assertThat(out).startsWith("Added peer b at 127.0.0.1:1 with fingerprint " + canonical + ": connecting (");
        assertThat(a.peer("b")).map(PeerInfo::fingerprint).contains(canonical);

        PeerAddCommand json = peerAdd(a, "0c".repeat(32), "c", null);
        json.json = true;
        JsonNode node = JSON.readTree(run(json));
        assertThat(node.get("name").asText()).isEqualTo("c");
        assertThat(node.get("address").asText()).isEmpty();
        assertThat(node.get("fingerprint").asText()).isEqualTo("0C:".repeat(31) + "0C");
        assertThat(node.get("state").asText()).isEqualTo("disconnected");
        assertThat(node.get("detail").asText()).isEqualTo("no address for c: waiting for it to dial this site");
        assertThat(Instant.parse(node.get("since").asText())).isBeforeOrEqualTo(Instant.now());
        assertThat(node.get("rttMicros").asLong()).isEqualTo(-1);
    }

    @Test
    void peerAddMistakesAreErrorsThatSayWhatWasWrong() throws Exception {
        TransportService a = start("a");
        assertThatThrownBy(() -> run(peerAdd(a, null, "b", "127.0.0.1:1")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--fingerprint is required")
                .hasMessageContaining("options go before the name, e.g. doppel:peer-add --fingerprint AB:CD:... b");
        assertThatThrownBy(() -> run(peerAdd(a, "0b0b", "b", "127.0.0.1:1")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("fingerprint '0b0b' has 4 hex digits");
        assertThatThrownBy(() -> run(peerAdd(a, SOME_FINGERPRINT, "b", "127.0.0.1")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("peer address '127.0.0.1' must be host:port");
        assertThatThrownBy(() -> run(peerAdd(a, a.fingerprint(), "self", "")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is this site's own certificate");
        run(peerAdd(a, SOME_FINGERPRINT, "b", ""));
        assertThatThrownBy(() -> run(peerAdd(a, "0c".repeat(32), "b", "")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("peer b already exists");
        assertThat(a.peers()).extracting(PeerInfo::name).containsExactly("b");
    }

    @Test
    void peerListShowsTheLinksAsATableOrJson() throws Exception {
        TransportService a = start("a");
        TransportService b = start("b");
        PeerListCommand list = new PeerListCommand();
        list.transport = a;
        assertThat(run(list)).contains("no peers (add one with doppel:peer-add)");

        b.addPeer("a", "", a.fingerprint());
        run(peerAdd(a, b.fingerprint(), "b", b.listenAddress()));
        await().atMost(Duration.ofSeconds(10)).until(() -> a.peer("b").map(p -> p.connected() && p.rttMicros() > 0)
                .orElse(false));

        String table = run(list);
        assertThat(table).contains("Name").contains("State").contains("Fingerprint");
        String row = table.lines().filter(l -> l.contains(b.fingerprint())).findFirst().orElseThrow();
        assertThat(row).contains("b").contains(b.listenAddress()).contains("connected").contains("site-b")
                .containsAnyOf(" │ ", " | ");

        list.noFormat = true;
        String plainRow = run(list).lines().filter(l -> l.contains(b.fingerprint())).findFirst().orElseThrow();
        assertThat(plainRow).startsWith("b ").contains("\tconnected\t").doesNotContain(" │ ").doesNotContain(" | ");

        list.json = true;
        JsonNode json = JSON.readTree(run(list));
        assertThat(json.isArray()).isTrue();
        assertThat(json).hasSize(1);
        JsonNode p = json.get(0);
        assertThat(p.get("name").asText()).isEqualTo("b");
        assertThat(p.get("state").asText()).isEqualTo("connected");
        assertThat(p.get("siteId").asText()).isEqualTo("site-b");
        assertThat(p.get("fingerprint").asText()).isEqualTo(b.fingerprint());
        assertThat(p.get("rttMicros").asLong()).isPositive();
        assertThat(p.get("bytesSent").asLong()).isPositive();
        assertThat(p.get("bytesReceived").asLong()).isPositive();
        Instant.parse(p.get("since").asText());
    }

    @Test
    void rttIsPrintedInTheUnitThatReadsBest() {
        assertThat(PeerListCommand.rtt(-1)).isEqualTo("-");
        assertThat(PeerListCommand.rtt(250)).isEqualTo("250 us");
        assertThat(PeerListCommand.rtt(12_345)).isEqualTo("12.3 ms");
    }

    @Test
    void peerRemoveForgetsThePeerAndNamesAnUnknownOne() throws Exception {
        TransportService a = start("a");
        a.addPeer("b", "", SOME_FINGERPRINT);
        PeerRemoveCommand c = new PeerRemoveCommand();
        c.transport = a;
        c.name = "b";
        assertThat(run(c)).isEqualTo("Removed peer b; its certificate is no longer accepted\n");
        assertThat(a.peers()).isEmpty();
        assertThatThrownBy(() -> run(c)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown peer 'b'; no peers are added (doppel:peer-add)");
    }

    @Test
    void peerNamesAreCompleted() throws Exception {
        TransportService a = start("a");
        a.addPeer("berlin", "", SOME_FINGERPRINT);
        a.addPeer("boston", "", "0c".repeat(32));
        a.addPeer("zurich", "", "0d".repeat(32));
        PeerNameCompleter completer = new PeerNameCompleter();
        completer.transport = a;
        List<String> candidates = new ArrayList<>();
        completer.complete(null, typed("b"), candidates);
        assertThat(candidates).extracting(String::trim).containsExactly("berlin", "boston");
    }

    /** The command line of "doppel:peer-remove " + prefix, the cursor at its end. */
    private static CommandLine typed(String prefix) {
        String buffer = "doppel:peer-remove " + prefix;
        return new CommandLine() {
            @Override
            public int getCursorArgumentIndex() {
                return 1;
            }

            @Override
            public String getCursorArgument() {
                return prefix;
            }

            @Override
            public int getArgumentPosition() {
                return prefix.length();
            }

            @Override
            public String[] getArguments() {
                return new String[] {"doppel:peer-remove", prefix};
            }

            @Override
            public int getBufferPosition() {
                return buffer.length();
            }

            @Override
            public String getBuffer() {
                return buffer;
            }
        };
    }
}
