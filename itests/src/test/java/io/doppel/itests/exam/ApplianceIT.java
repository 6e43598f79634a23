package io.doppel.itests.exam;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;

/**
 * The whole appliance in one container: its first start, volumes and exports through the
 * commands, real NBD clients against the exports, snapshots and the journal. Each test
 * makes its own volumes, so the tests do not depend on their order.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class ApplianceIT extends ApplianceTestSupport {

    private static final long MIB = 1 << 20;

    @Configuration
    public Option[] config() {
        int port = freePort();
        List<Option> o = new ArrayList<>(Arrays.asList(baseOptions(true, port)));
        o.add(systemProperty(NBD_PORT_PROPERTY).value(String.valueOf(port)));
        // No background checkpoints: the journal test sees the checkpoint move only by doppel:checkpoint.
        o.add(editConfigurationFilePut("etc/io.doppel.engine.cfg", "checkpointIntervalMillis", "3600000"));
        return o.toArray(new Option[0]);
    }

    @Before
    public void serving() {
        awaitServing();
    }

    @Test
    public void firstStartCreatesGroupDefaultWithVol0Exported() {
        JsonNode status = json("doppel:status --json");
        assertTrue("serving: " + status, status.path("serving").asBoolean());
        assertTrue("volume service bound", status.path("volumeService").asBoolean());
        assertTrue("journal service bound", status.path("journalService").asBoolean());
        assertEquals("no refused configuration", 0, status.path("configProblems").size());
        JsonNode def = group(status.path("groups"), "default");
        assertNotNull("group default: " + status, def);
        assertEquals("serving", def.path("state").asText());
        assertTrue("default holds vol0: " + def, strings(def.path("volumes")).contains("vol0"));

        int port = configuredNbdPort();
        assertEquals("the server listens on the configured port", port, nbdPort());
        JsonNode vol0 = find(json("doppel:export-list --json"), "vol0");
        assertNotNull("export vol0", vol0);
        assertEquals("nbd://127.0.0.1:" + port + "/vol0", vol0.path("uri").asText());
        assertEquals("vol0", vol0.path("volume").asText());
        assertEquals("read-write", vol0.path("mode").asText());
        assertTrue("not a snapshot export: " + vol0, vol0.path("snapshot").isNull());

        JsonNode v = find(json("doppel:volume-list --json"), "vol0");
        assertNotNull("volume vol0", v);
        assertEquals("default", v.path("group").asText());
        assertEquals(1L << 30, v.path("size").asLong());
        assertEquals(karafBase().resolve("doppel/volumes"), Path.of(v.path("directory").asText()).normalize());
        assertTrue("vol0 opens: " + v, v.path("problem").isNull());
        assertTrue("backing file " + volumeData("vol0"), Files.isRegularFile(volumeData("vol0")));

        assertNotNull("group-list has default", find(json("doppel:group-list --json"), "default"));
        assertEquals("a real client sees 1 GiB", 1L << 30, nbdinfoSize(uri("vol0")));
    }

    @Test
    public void volumesAndExportsThroughCommands() {
        assertEquals("g2", json("doppel:group-create --json g2").path("name").asText());
        JsonNode created = json("doppel:volume-create --group g2 --json data1 64M");
        assertEquals("data1", created.path("name").asText());
        assertEquals("g2", created.path("group").asText());
        assertEquals(64 * MIB, created.path("size").asLong());
        JsonNode listed = find(json("doppel:volume-list --json"), "data1");
        assertNotNull("volume-list shows data1", listed);
        assertEquals("g2", listed.path("group").asText());
        assertTrue("group g2 holds data1",
                strings(group(json("doppel:group-list --json"), "g2").path("volumes")).contains("data1"));

        String exported = executeCommand("doppel:export-add data1");
        String uri = uri("data1");
        assertContains("export-add", exported, uri);
        assertNotNull("export-list has data1", find(json("doppel:export-list --json"), "data1"));
        assertEquals(64 * MIB, nbdinfoSize(uri));

        assertEquals(128 * MIB, json("doppel:volume-grow --json data1 128M").path("size").asLong());
        assertEquals("a new connection sees the grown size", 128 * MIB, nbdinfoSize(uri));
        assertContains("shrinking", executeFailingCommand("doppel:volume-grow data1 64M"), "data1", "only grow");

        String refused = executeFailingCommand("doppel:volume-delete data1");
        assertContains("delete of an exported volume", refused, uri, "export-remove");
        assertNotNull("data1 survives the refused delete", find(json("doppel:volume-list --json"), "data1"));

        executeCommand("doppel:export-remove data1");
        assertNull("export gone", find(json("doppel:export-list --json"), "data1"));
        assertContains("volume-delete", executeCommand("doppel:volume-delete data1"), "Deleted volume data1");
        assertNull("data1 gone", find(json("doppel:volume-list --json"), "data1"));
        assertFalse("its files are gone", Files.exists(volumeData("data1").getParent()));
        executeCommand("doppel:group-delete g2");
        assertNull("g2 gone", find(json("doppel:group-list --json"), "g2"));
    }

    @Test
    public void badInputThroughCommandsIsRefusedWithAClearMessage() {
        assertContains("unknown group", executeFailingCommand("doppel:volume-create --group nosuch bad1 64M"),
                "nosuch", "does not exist");
        assertContains("size 'lots'", executeFailingCommand("doppel:volume-create bad2 lots"), "'lots'", "not a size");
        assertContains("size 5000", executeFailingCommand("doppel:volume-create bad3 5000"), "5000", "4096");
        assertContains("duplicate", executeFailingCommand("doppel:volume-create vol0 64M"), "vol0", "already exists");
        assertContains("invalid name", executeFailingCommand("doppel:volume-create a@b 64M"), "'a@b'", "invalid volume name");
        assertContains("duplicate group", executeFailingCommand("doppel:group-create default"), "default");
        assertContains("unknown volume", executeFailingCommand("doppel:volume-grow nosuchvol 1G"), "nosuchvol");
        assertContains("duplicate export", executeFailingCommand("doppel:export-add vol0"), "vol0");
        assertContains("invalid export name", executeFailingCommand("doppel:export-add -v vol0 'bad name'"), "bad name");
        assertContains("unknown journal", executeFailingCommand("doppel:journal-status nosuch"), "nosuch", "default");

        List<String> volumes = names(json("doppel:volume-list --json"));
        for (String v : List.of("bad1", "bad2", "bad3", "a@b")) {
            assertFalse("refused volume " + v + " does not exist: " + volumes, volumes.contains(v));
        }
        assertEquals("vol0 keeps its size", 1L << 30, find(json("doppel:volume-list --json"), "vol0").path("size").asLong());
    }

    @Test
    public void qemuIoWritesAndVerifiesAPattern() {
        String uri = exportedVolume("qemu1", "16M", "default");
        Result ok = qemuIo(uri, false, "write -P 0xab 0 1M", "read -P 0xab 0 1M").requireSuccess();
        assertContains("qemu-io", ok.output(), "wrote 1048576/1048576 bytes", "read 1048576/1048576 bytes");
        assertFalse(ok.output(), ok.output().contains("Pattern verification failed"));
        // Negative control: the check catches data that is not there.
        Result wrong = qemuIo(uri, true, "read -P 0xcd 0 1M").requireFailure();
        assertContains("qemu-io read of the wrong pattern", wrong.output(), "Pattern verification failed");
    }

    @Test
    public void nbdcopyChecksumEqualsTheBackingFile() {
        String uri = exportedVolume("copy1", "16M", "default");
        qemuIo(uri, false, "write -P 0x5a 0 1M", "write -P 0xa5 7M 512k", "write -P 0x01 15M 1M").requireSuccess();
        executeCommand("doppel:checkpoint default");
        String before = nbdcopySha(uri);
        assertEquals("backing file size", 16 * MIB, volumeData("copy1").toFile().length());
        assertEquals("nbdcopy equals " + volumeData("copy1"), sha256(volumeData("copy1")), before);

        // Negative control: one changed byte changes the checksum (and the file follows).
        qemuIo(uri, false, "write -P 0x02 12345 1").requireSuccess();
        executeCommand("doppel:checkpoint default");
        String after = nbdcopySha(uri);
        assertNotEquals("one byte changed", before, after);
        assertEquals("the file follows", sha256(volumeData("copy1")), after);
    }

    private static String nbdcopySha(String uri) {
        requireProgram("nbdcopy", System.getenv("PATH"));
        Result r = run("bash", "-o", "pipefail", "-c", "nbdcopy '" + uri + "' - | sha256sum").requireSuccess();
        String sha = r.output().trim().split("\\s+")[0];
        assertEquals("a sha256: " + r.output(), 64, sha.length());
        return sha;
    }

    @Test
    public void fioVerifiesInASeparatePass() throws Exception {
        String written = exportedVolume("fio1", "16M", "default");
        String fresh = exportedVolume("fio2", "16M", "default");
        Path out = Files.createTempFile("fio", ".json");
        fio(written, out, "--do_verify=1").requireSuccess();
        fio(written, out, "--verify_only=1", "--do_verify=1", "--output-format=json").requireSuccess();
        JsonNode job = readJson(out).path("jobs").path(0);
        assertEquals("verify pass error", 0, job.path("error").asInt());
        assertEquals("the verify pass read the whole area", 16 * MIB, job.path("read").path("io_bytes").asLong());
        // Negative control: the same verification against a volume fio never wrote fails.
        Result bad = fio(fresh, out, "--verify_only=1", "--do_verify=1").requireFailure();
        assertContains("fio against fresh volume", bad.output() + Files.readString(out), "verify");
        Files.deleteIfExists(out);
    }

    private static Result fio(String uri, Path output, String... extra) {
        List<String> cmd = new ArrayList<>(List.of("fio", "--name=w", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
                "--bs=4k", "--iodepth=16", "--size=16M", "--verify=crc32c", "--randseed=1234", "--output=" + output));
        cmd.addAll(List.of(extra));
        return run(cmd.toArray(new String[0]));
    }

    @Test
    public void nbdshFuaZeroTrimFlush() {
        String uri = exportedVolume("sh1", "16M", "default");
        String script = String.join("\n",
                "B = 65536",
                "assert h.can_fua() and h.can_trim() and h.can_zero() and h.can_flush()",
                "h.pwrite(b'\\xaa' * (4 * B), 0, nbd.CMD_FLAG_FUA)",
                "assert h.pread(4 * B, 0) == b'\\xaa' * (4 * B), 'FUA write reads back'",
                "h.zero(B, B)",
                "h.trim(B, 2 * B)",
                "h.flush()",
                "d = h.pread(4 * B, 0)",
                "assert d[:B] == b'\\xaa' * B, 'block before the zeroed range kept'",
                "assert d[B:2 * B] == bytes(B), 'zeroed range reads zeros'",
                "assert d[2 * B:3 * B] == bytes(B), 'trimmed range reads zeros'",
                "assert d[3 * B:] == b'\\xaa' * B, 'block after the trimmed range kept'",
                "print('nbdsh checks passed')");
        Result ok = nbdsh(uri, script).requireSuccess();
        assertContains("nbdsh", ok.output(), "nbdsh checks passed");
        // Negative control: a check that does not hold makes nbdsh fail.
        Result bad = nbdsh(uri, "assert h.pread(65536, 131072) == b'\\xaa' * 65536, 'trimmed data came back'")
                .requireFailure();
        assertContains("nbdsh negative control", bad.output(), "AssertionError", "trimmed data came back");
    }

    private static Result nbdsh(String uri, String script) {
        return run(Map.of("PATH", "/usr/bin:" + System.getenv("PATH")), "nbdsh", "-u", uri, "-c", script);
    }

    @Test
    public void nbdClientListsExportsAndNbdinfoSeesTheCapabilities() {
        String uri = exportedVolume("caps1", "16M", "default");
        executeCommand("doppel:export-add --volume caps1 --read-only caps1-ro");
        executeCommand("doppel:export-add --volume caps1 caps1-gone");
        executeCommand("doppel:export-remove caps1-gone");
        Result list = run("nbd-client", "-l", "127.0.0.1", String.valueOf(nbdPort())).requireSuccess();
        // One line per export: "name" or "name: description".
        List<String> listed = list.output().lines().map(l -> l.split(":")[0].strip()).toList();
        for (String e : List.of("vol0", "caps1", "caps1-ro")) {
            assertTrue("nbd-client -l lists " + e + ":\n" + list.output(), listed.contains(e));
        }
        assertFalse("a removed export is not listed:\n" + list.output(), listed.contains("caps1-gone"));
        for (String can : List.of("flush", "fua", "trim", "zero", "multi-conn")) {
            assertEquals("nbdinfo --can " + can + " " + uri, 0, run("nbdinfo", "--can", can, uri).exit());
        }
        // Negative control: a read-only export does not offer trim, zero or FUA (exit 2 means "no").
        String ro = uri("caps1-ro");
        for (String cannot : List.of("trim", "zero", "fua")) {
            assertEquals("nbdinfo --can " + cannot + " " + ro, 2, run("nbdinfo", "--can", cannot, ro).exit());
        }
        assertEquals("nbdinfo --is read-only " + ro, 0, run("nbdinfo", "--is", "read-only", ro).exit());
        assertEquals("nbdinfo --is read-only " + uri, 2, run("nbdinfo", "--is", "read-only", uri).exit());
    }

    @Test
    public void snapshotsServeTheOldImageAndRollBack() {
        String uri = exportedVolume("snap1", "16M", "default");
        qemuIo(uri, false, "write -P 0x11 0 1M").requireSuccess();
        JsonNode snap = json("doppel:snapshot-create --json snap1 s1");
        assertEquals("s1", snap.path(0).path("name").asText());
        qemuIo(uri, false, "write -P 0x22 0 1M").requireSuccess();

        String added = executeCommand("doppel:export-add --volume snap1 --snapshot s1 snap1-s1");
        assertContains("snapshot export", added, "read-only", uri("snap1-s1"));
        JsonNode e = find(json("doppel:export-list --json"), "snap1-s1");
        assertEquals("s1", e.path("snapshot").asText());
        assertEquals("read-only", e.path("mode").asText());
        String snapUri = uri("snap1-s1");
        qemuIo(snapUri, true, "read -P 0x11 0 1M").requireSuccess();
        assertContains("the snapshot does not show the later write",
                qemuIo(snapUri, true, "read -P 0x22 0 1M").requireFailure().output(), "Pattern verification failed");
        qemuIo(snapUri, false, "write -P 0x33 0 4k").requireFailure();
        qemuIo(snapUri, true, "read -P 0x11 0 1M").requireSuccess();
        qemuIo(uri, true, "read -P 0x22 0 1M").requireSuccess();
        JsonNode s1 = find(json("doppel:snapshot-list --json snap1"), "s1");
        assertTrue("s1 preserved the overwritten MiB: " + s1, s1.path("preservedBytes").asLong() >= MIB);

        // A host holding the volume open read-write blocks the rollback.
        Client holder = start(Map.of("PATH", "/usr/bin:" + System.getenv("PATH")),
                "nbdsh", "-u", uri, "-c", "import sys; sys.stdin.read()");
        try {
            await("nbdsh to connect to snap1", 30_000,
                    () -> find(json("doppel:export-list --json"), "snap1").path("connections").asInt() == 1);
            assertContains("rollback while connected", executeFailingCommand("doppel:snapshot-rollback snap1 s1"),
                    "snap1", "read-write");
        } finally {
            try {
                holder.process().getOutputStream().close();
            } catch (IOException ignored) {
                // the process is gone already; finish() reports how it ended
            }
            finish(holder).requireSuccess();
        }
        await("the connection to close", 30_000,
                () -> find(json("doppel:export-list --json"), "snap1").path("connections").asInt() == 0);
        assertContains("rollback", executeCommand("doppel:snapshot-rollback snap1 s1"), "now equals snapshot s1");
        qemuIo(uri, true, "read -P 0x11 0 1M").requireSuccess();
        qemuIo(uri, true, "read -P 0x22 0 1M").requireFailure();

        assertContains("deleting an exported snapshot", executeFailingCommand("doppel:snapshot-delete snap1 s1"),
                snapUri, "export-remove");
        executeCommand("doppel:export-remove snap1-s1");
        executeCommand("doppel:snapshot-delete snap1 s1");
        assertNull("s1 deleted", find(json("doppel:snapshot-list --json snap1"), "s1"));

        executeCommand("doppel:group-create gsnap");
        executeCommand("doppel:volume-create --group gsnap gsa 8M");
        executeCommand("doppel:volume-create --group gsnap gsb 8M");
        JsonNode made = json("doppel:snapshot-create --group --json gsnap gs1");
        List<String> vols = new ArrayList<>();
        made.forEach(n -> vols.add(n.path("volume").asText() + "@" + n.path("name").asText()));
        assertEquals(List.of("gsa@gs1", "gsb@gs1"), vols.stream().sorted().toList());
        assertNotNull("gsa has gs1", find(json("doppel:snapshot-list --json gsa"), "gs1"));
        assertNotNull("gsb has gs1", find(json("doppel:snapshot-list --json gsb"), "gs1"));
        assertNull("volumes of other groups are not snapshotted", find(json("doppel:snapshot-list --json vol0"), "gs1"));
    }

    @Test
    public void journalHeadAdvancesWithWritesAndCheckpointMovesTheCheckpoint() {
        String uri = exportedVolume("jrn1", "16M", "default");
        JsonNode before = json("doppel:journal-status --json default");
        assertEquals("default", before.path("group").asText());
        long head0 = seq(before.path("head"));

        // Negative control: reads append nothing.
        qemuIo(uri, true, "read 0 1M").requireSuccess();
        assertEquals("reads do not advance the head", head0, seq(json("doppel:journal-status --json default").path("head")));

        qemuIo(uri, false, "write -P 0x42 0 64k", "write -P 0x43 1M 64k", "write -P 0x44 2M 64k").requireSuccess();
        JsonNode after = json("doppel:journal-status --json default");
        long head1 = seq(after.path("head"));
        assertTrue("three writes advance the head from " + head0 + ": " + after, head1 >= head0 + 3);
        assertTrue("records are retained: " + after, after.path("records").asLong() > 0);
        assertTrue("no background checkpoint has covered the writes: " + after, seq(after.path("checkpoint")) < head1);

        JsonNode cp = json("doppel:checkpoint --json default");
        assertTrue("checkpoint reports a position through the writes: " + cp, seq(cp.path("checkpoint")) >= head1);
        JsonNode moved = json("doppel:journal-status --json default");
        assertTrue("journal checkpoint moved to the head: " + moved, seq(moved.path("checkpoint")) >= head1);
        assertEquals("the group's checkpoint agrees", seq(moved.path("checkpoint")),
                seq(group(json("doppel:group-list --json"), "default").path("checkpoint")));
    }
}
