package io.doppel.itests.exam;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import javax.inject.Inject;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * A bad configuration value, in a file at boot or changed at run time, is refused with a
 * message naming the key and the value, the previous (or default) value stays in force, and
 * the appliance keeps serving NBD I/O. Covers the engine, NBD, journal and volume PIDs.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class ConfigIT extends ApplianceTestSupport {

    @Inject
    protected ServiceComponentRuntime scr;

    @Configuration
    public Option[] config() {
        int port = freePort();
        List<Option> o = new ArrayList<>(Arrays.asList(baseOptions(true, port)));
        o.add(systemProperty(NBD_PORT_PROPERTY).value(String.valueOf(port)));
        // One bad value per bundle in the files the appliance boots with.
        o.add(editConfigurationFilePut("etc/io.doppel.engine.cfg", "ioHoldTimeoutMillis", "abc"));
        o.add(editConfigurationFilePut("etc/io.doppel.nbd.cfg", "workerThreads", "many"));
        o.add(editConfigurationFilePut("etc/io.doppel.journal.cfg", "activityLogExtents", "lots"));
        o.add(editConfigurationFilePut("etc/io.doppel.volume.cfg", "directories",
                "${karaf.base}/doppel/volumes,relative/disk"));
        return o.toArray(new Option[0]);
    }

    @Before
    public void serving() {
        awaitServing();
    }

    @Test
    public void badValuesInTheBootFilesAreRefusedAndTheApplianceServes() {
        List<String> problems = strings(json("doppel:status --json").path("configProblems"));
        assertTrue("doppel:status names ioHoldTimeoutMillis = 'abc': " + problems,
                problems.stream().anyMatch(p -> p.contains("ioHoldTimeoutMillis") && p.contains("'abc'")));
        awaitLogLine("io.doppel.engine", "ioHoldTimeoutMillis", "'abc'");
        awaitLogLine("Invalid configuration io.doppel.nbd: workerThreads = 'many'", "using 16");
        awaitLogLine("io.doppel.journal: activityLogExtents = 'lots' is not valid", "keeping 1024");
        awaitLogLine("Configuration io.doppel.volume rejected", "'relative/disk' is not an absolute path");

        assertEquals("the configured port is in force", configuredNbdPort(), nbdPort());
        JsonNode vol0 = find(json("doppel:volume-list --json"), "vol0");
        assertNotNull("vol0 was created on first start", vol0);
        assertEquals("the default pool directory is in force", karafBase().resolve("doppel/volumes"),
                Path.of(vol0.path("directory").asText()).normalize());
        assertEquals("the pool is the default directory alone", List.of(karafBase().resolve("doppel/volumes").toString()),
                pool());
        qemuIo(uri("vol0"), false, "write -P 0x61 0 1M", "read -P 0x61 0 1M").requireSuccess();
        assertEquals(List.of(), badComponents());
    }

    @Test
    public void engineValuesChangedAtRunTimeAreCheckedAgain() throws IOException {
        // Negative control: a key that is not configured badly is not reported.
        assertFalse(problems().toString(), problems().stream().anyMatch(p -> p.contains("checkpointIntervalMillis")));

        executePrivileged("config:property-set -p io.doppel.engine checkpointIntervalMillis soon");
        await("doppel:status to name checkpointIntervalMillis = 'soon'", 30_000,
                () -> problems().stream().anyMatch(p -> p.contains("checkpointIntervalMillis") && p.contains("'soon'")));
        awaitLogLine("Configuration io.doppel.engine", "checkpointIntervalMillis", "'soon'");
        assertIoWorks("eng1");

        // A good value clears its problem; the bad boot value of another key stays reported.
        executePrivileged("config:property-set -p io.doppel.engine checkpointIntervalMillis 5000");
        await("the checkpointIntervalMillis problem to clear", 30_000,
                () -> problems().stream().noneMatch(p -> p.contains("checkpointIntervalMillis")));
        assertTrue(problems().toString(), problems().stream().anyMatch(p -> p.contains("ioHoldTimeoutMillis")));

        // The same through the file itself, as an operator editing etc/ would do it.
        Path cfg = karafBase().resolve("etc/io.doppel.engine.cfg");
        List<String> lines = new ArrayList<>(Files.readAllLines(cfg, StandardCharsets.UTF_8));
        lines.removeIf(l -> l.trim().startsWith("checkpointIntervalMillis"));
        lines.add("checkpointIntervalMillis = 50");
        Files.write(cfg, lines, StandardCharsets.UTF_8);
        await("doppel:status to name checkpointIntervalMillis 50 from the edited file", 30_000,
                () -> problems().stream().anyMatch(p -> p.contains("checkpointIntervalMillis") && p.contains("50")
                        && p.contains("outside")));
        assertIoWorks("eng2");
        assertEquals(List.of(), badComponents());
    }

    @Test
    public void nbdValuesChangedAtRunTimeAreRefusedAndTheServerStays() throws IOException {
        int port = nbdPort();
        assertTrue("negative control: no such line yet", logLines("'notaport'").isEmpty());
        editConfiguration("io.doppel.nbd", "port notaport", "maxInFlightRequests 0");
        awaitLogLine("Invalid configuration io.doppel.nbd: port = 'notaport' must be an integer from 0 to 65535",
                "using " + port);
        awaitLogLine("Invalid configuration io.doppel.nbd: maxInFlightRequests = '0'", "using 128");
        String cfg = Files.readString(karafBase().resolve("etc/io.doppel.nbd.cfg"), StandardCharsets.UTF_8);
        assertContains("etc/io.doppel.nbd.cfg keeps its other keys", cfg, "address", "notaport", "many");
        JsonNode status = json("doppel:nbd-status --json");
        assertTrue("still listening: " + status, status.path("up").asBoolean());
        assertEquals("on the same port", port, nbdPort());
        assertIoWorks("nbd1");
        assertEquals(List.of(), badComponents());
    }

    @Test
    public void journalValuesChangedAtRunTimeAreRefusedAndNewJournalsOpen() {
        assertTrue("negative control: no such line yet", logLines("segmentBytes = '1K'").isEmpty());
        editConfiguration("io.doppel.journal", "segmentBytes 1K", "capacityBytes huge");
        awaitLogLine("io.doppel.journal: segmentBytes = '1K' is not valid", "keeping 64 MiB");
        awaitLogLine("io.doppel.journal: capacityBytes = 'huge' is not valid", "keeping 1 GiB");
        // A journal opened after the change uses the kept values.
        executeCommand("doppel:group-create gjrn");
        JsonNode j = json("doppel:journal-status --json gjrn");
        assertEquals("capacity kept: " + j, 1L << 30, j.path("capacityBytes").asLong());
        String uri = exportedVolume("jrnvol", "16M", "gjrn");
        qemuIo(uri, false, "write -P 0x71 0 1M", "read -P 0x71 0 1M").requireSuccess();
        assertTrue("the new group journals writes", seq(json("doppel:journal-status --json gjrn").path("head")) > 0);
        assertIoWorks("jrn2");
        assertEquals(List.of(), badComponents());
    }

    @Test
    public void volumeValuesChangedAtRunTimeAreRefusedAndVolumesStillCreate() {
        assertTrue("negative control: no such line yet", logLines("'x' is not an absolute path").isEmpty());
        executePrivileged("config:property-set -p io.doppel.volume directories \"" + karafBase() + "/doppel/volumes,,x\"");
        awaitLogLine("Configuration io.doppel.volume rejected", "has an empty entry", "'x' is not an absolute path");
        assertEquals("the pool is unchanged", List.of(karafBase().resolve("doppel/volumes").toString()), pool());
        assertIoWorks("vcfg1");
        JsonNode v = find(json("doppel:volume-list --json"), "vcfg1");
        assertEquals("placed in the kept directory", karafBase().resolve("doppel/volumes"),
                Path.of(v.path("directory").asText()).normalize());
        assertEquals(List.of(), badComponents());
    }

    /**
     * Changes several keys of a PID in one config:edit session, as an operator would, so that
     * the configuration is updated once. (Two config:property-set -p calls on one PID in quick
     * succession can lose the file's other keys: the .cfg file is rewritten after the first
     * call returns, and the second may read it while it is still empty.)
     */
    private void editConfiguration(String pid, String... keyValues) {
        StringBuilder cmd = new StringBuilder("config:edit " + pid);
        for (String kv : keyValues) {
            cmd.append("; config:property-set ").append(kv);
        }
        executePrivileged(cmd.append("; config:update").toString());
    }

    private List<String> problems() {
        return strings(json("doppel:status --json").path("configProblems"));
    }

    private List<String> pool() {
        List<String> out = new ArrayList<>();
        json("doppel:pool --json").forEach(d -> out.add(Path.of(d.path("path").asText()).normalize().toString()));
        return out;
    }

    /** A new volume in group default, exported, written and read back through qemu-io, and vol0 still readable. */
    private void assertIoWorks(String volume) {
        String uri = exportedVolume(volume, "16M", "default");
        qemuIo(uri, false, "write -P 0x5c 0 1M", "read -P 0x5c 0 1M").requireSuccess();
        qemuIo(uri("vol0"), true, "read 0 1M").requireSuccess();
    }

    /** Doppel components that are not active or satisfied, with the reason. */
    private List<String> badComponents() {
        List<String> bad = new ArrayList<>();
        for (ComponentDescriptionDTO d : scr.getComponentDescriptionDTOs()) {
            if (!d.bundle.symbolicName.startsWith("io.doppel")) {
                continue;
            }
            for (ComponentConfigurationDTO c : scr.getComponentConfigurationDTOs(d)) {
                if (c.state != ComponentConfigurationDTO.ACTIVE && c.state != ComponentConfigurationDTO.SATISFIED) {
                    bad.add(d.name + " state " + c.state + (c.failure == null ? "" : ": " + c.failure));
                }
            }
        }
        return bad;
    }
}
