package io.doppel.itests.exam;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivilegedActionException;
import java.security.PrivilegedExceptionAction;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import javax.security.auth.Subject;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.karaf.jaas.boot.principal.RolePrincipal;
import org.apache.karaf.jaas.boot.principal.UserPrincipal;
import org.apache.karaf.shell.api.console.Session;

/**
 * What the appliance tests share: JSON output of commands, the NBD port and URIs, the
 * container's own files, and real NBD clients run as child processes of the container.
 */
public abstract class ApplianceTestSupport extends DoppelTestSupport {

    /** The NBD port the configuration asked for, handed into the container as a system property. */
    protected static final String NBD_PORT_PROPERTY = "doppel.it.nbdPort";

    protected static final long CLIENT_TIMEOUT_SECONDS = 60;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One finished client run. */
    protected record Result(String command, int exit, String output) {

        Result requireSuccess() {
            if (exit != 0) {
                throw new AssertionError("'" + command + "' exited with " + exit + ":\n" + output);
            }
            return this;
        }

        Result requireFailure() {
            if (exit == 0) {
                throw new AssertionError("'" + command + "' succeeded but should have failed:\n" + output);
            }
            return this;
        }
    }

    /** Runs a command with {@code --json} (or any command printing JSON) and parses what it printed. */
    protected JsonNode json(String command) {
        String out = executeCommand(command);
        try {
            return JSON.readTree(out);
        } catch (IOException e) {
            throw new AssertionError("'" + command + "' did not print JSON: " + e.getMessage() + "\n" + out, e);
        }
    }

    /**
     * Runs a command as a user with the roles admin, manager and viewer. Commands under an ACL
     * (etc/org.apache.karaf.command.acl.*.cfg, e.g. config:property-set needs "manager") are
     * invisible to a session without a subject ("Command not found").
     */
    protected String executePrivileged(String command) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Session session = sessionFactory.create(new ByteArrayInputStream(new byte[0]), out, out);
        Subject subject = new Subject();
        subject.getPrincipals().add(new UserPrincipal("karaf"));
        for (String role : List.of("admin", "manager", "viewer")) {
            subject.getPrincipals().add(new RolePrincipal(role));
        }
        ExecutorService single = Executors.newSingleThreadExecutor();
        try {
            Future<Object> f = single.submit(() -> Subject.doAs(subject,
                    (PrivilegedExceptionAction<Object>) () -> session.execute(command)));
            f.get(60, TimeUnit.SECONDS);
            return bytes.toString(StandardCharsets.UTF_8);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof PrivilegedActionException p ? p.getCause() : e.getCause();
            throw new AssertionError("command '" + command + "' failed: " + cause + "\n" + bytes, cause);
        } catch (TimeoutException e) {
            throw new AssertionError("command '" + command + "' did not finish in 60 s:\n" + bytes);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            session.close();
            single.shutdownNow();
        }
    }

    /** Waits until the appliance serves: engine serving, group default with vol0, NBD listening, export vol0. */
    protected void awaitServing() {
        await("the appliance to serve vol0 over NBD", 90_000, () -> {
            try {
                JsonNode status = json("doppel:status --json");
                JsonNode nbd = json("doppel:nbd-status --json");
                JsonNode def = group(status.path("groups"), "default");
                return status.path("serving").asBoolean() && def != null && strings(def.path("volumes")).contains("vol0")
                        && nbd.path("up").asBoolean() && find(json("doppel:export-list --json"), "vol0") != null;
            } catch (AssertionError e) {
                return false; // commands not registered yet, or the engine still attaching
            }
        });
    }

    /** The port the server listens on, as {@code doppel:nbd-status} reports it. */
    protected int nbdPort() {
        String listening = json("doppel:nbd-status --json").path("listening").asText();
        int colon = listening.lastIndexOf(':');
        assertTrue("nbd-status names address:port, got '" + listening + "'", colon > 0);
        return Integer.parseInt(listening.substring(colon + 1));
    }

    protected int configuredNbdPort() {
        String p = System.getProperty(NBD_PORT_PROPERTY);
        assertTrue("system property " + NBD_PORT_PROPERTY + " reaches the container", p != null);
        return Integer.parseInt(p);
    }

    protected String uri(String export) {
        return "nbd://127.0.0.1:" + nbdPort() + "/" + export;
    }

    /** The element of a JSON array whose {@code name} is {@code name}, or null. */
    protected static JsonNode find(JsonNode array, String name) {
        for (JsonNode n : array) {
            if (name.equals(n.path("name").asText())) {
                return n;
            }
        }
        return null;
    }

    protected static JsonNode group(JsonNode groups, String name) {
        return find(groups, name);
    }

    protected static List<String> names(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.path("name").asText()));
        return out;
    }

    protected static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** Parses a JSON file a client wrote (fio's --output-format=json report). */
    protected static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new AssertionError(file + " is not JSON: " + e.getMessage(), e);
        }
    }

    /** Creates a volume in a group and exports it under its own name; returns its URI. */
    protected String exportedVolume(String name, String size, String group) {
        executeCommand("doppel:volume-create --group " + group + " " + name + " " + size);
        String out = executeCommand("doppel:export-add " + name);
        String uri = uri(name);
        assertTrue("export-add prints the URI " + uri + ", got: " + out, out.contains(uri));
        return uri;
    }

    protected static Path karafBase() {
        return Path.of(System.getProperty("karaf.base")).toAbsolutePath().normalize();
    }

    /** The volume's data file: {@code <pool directory>/<volume>/data} (docs/volumes.md, "On-disk layout"). */
    protected static Path volumeData(String volume) {
        return karafBase().resolve("doppel/volumes").resolve(volume).resolve("data");
    }

    protected static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new AssertionError("cannot hash " + file + ": " + e, e);
        }
    }

    /** Karaf's log of this container. */
    protected static Path karafLog() {
        String dir = System.getProperty("karaf.log");
        if (dir == null) {
            dir = System.getProperty("karaf.data") + "/log";
        }
        return Path.of(dir, "karaf.log");
    }

    /** Lines of Karaf's log that contain every fragment. */
    protected static List<String> logLines(String... fragments) {
        List<String> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(karafLog(), StandardCharsets.UTF_8)) {
                boolean all = true;
                for (String f : fragments) {
                    all &= line.contains(f);
                }
                if (all) {
                    out.add(line);
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read " + karafLog() + ": " + e, e);
        }
        return out;
    }

    protected static String awaitLogLine(String... fragments) {
        await("a line in karaf.log containing " + List.of(fragments), 30_000, () -> !logLines(fragments).isEmpty());
        return logLines(fragments).get(0);
    }

    // ---- real clients -----------------------------------------------------------------------

    /** Runs a program to its end (with a deadline), output and error merged. */
    protected static Result run(String... command) {
        return run(Map.of(), command);
    }

    protected static Result run(Map<String, String> env, String... command) {
        return finish(start(env, command));
    }

    /** A running client; its output (with errors) goes to a temporary file that {@link #finish} reads. */
    protected record Client(Process process, String command, Path output) {
    }

    protected static Client start(Map<String, String> env, String... command) {
        String[] cmd = command.clone();
        cmd[0] = requireProgram(command[0], env.getOrDefault("PATH", System.getenv("PATH")));
        try {
            Path out = Files.createTempFile("doppel-it-client", ".out");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
            pb.environment().putAll(env);
            return new Client(pb.start(), String.join(" ", command), out);
        } catch (IOException e) {
            throw new AssertionError("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
        }
    }

    /** Waits for the client (with a deadline; killed after it) and returns its exit status and output. */
    protected static Result finish(Client c) {
        try {
            boolean done = c.process().waitFor(CLIENT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (!done) {
                c.process().descendants().forEach(ProcessHandle::destroyForcibly);
                c.process().destroyForcibly();
                c.process().waitFor(10, TimeUnit.SECONDS);
            }
            String out = Files.readString(c.output(), StandardCharsets.UTF_8);
            Files.deleteIfExists(c.output());
            if (!done) {
                fail("'" + c.command() + "' did not finish within " + CLIENT_TIMEOUT_SECONDS + " s; it printed:\n" + out);
            }
            return new Result(c.command(), c.process().exitValue(), out);
        } catch (IOException e) {
            throw new AssertionError("reading the output of '" + c.command() + "': " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            c.process().destroyForcibly();
            throw new AssertionError(e);
        }
    }

    /** The program's absolute path; fails naming the package to install when it is missing. */
    protected static String requireProgram(String program, String path) {
        String search = (path == null ? "/usr/bin:/bin" : path) + ":/usr/sbin:/sbin"; // nbd-client lives in sbin
        for (String dir : search.split(":")) {
            File f = new File(dir, program);
            if (!dir.isEmpty() && f.isFile() && f.canExecute()) {
                return f.getAbsolutePath();
            }
        }
        String pkg = switch (program) {
            case "qemu-io", "qemu-img" -> "qemu-utils";
            case "nbdinfo", "nbdcopy", "nbdsh" -> "libnbd-bin (nbdsh also needs python3-libnbd)";
            case "fio" -> "fio";
            case "nbd-client" -> "nbd-client";
            default -> "the package that provides it";
        };
        throw new AssertionError("the program '" + program + "' is not installed (searched " + search + "); install " + pkg);
    }

    /** qemu-io with writeback cache (no FUA on every write); {@code readOnly} opens with -r. */
    protected static Result qemuIo(String uri, boolean readOnly, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw", "-t", "writeback"));
        if (readOnly) {
            cmd.add("-r");
        }
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        return run(cmd.toArray(new String[0]));
    }

    protected static long nbdinfoSize(String uri) {
        Result r = run("nbdinfo", "--size", uri).requireSuccess();
        try {
            return Long.parseLong(r.output().trim());
        } catch (NumberFormatException e) {
            throw new AssertionError("nbdinfo --size printed '" + r.output() + "'", e);
        }
    }

    /**
     * The seq of a position, printed as {@code {"epoch":…,"seq":…}} (journal-status) or as
     * {@code "EPOCH/SEQ"} (group-list, checkpoint). These tests never leave epoch 1.
     */
    protected static long seq(JsonNode position) {
        if (position.isTextual()) {
            String t = position.asText();
            return Long.parseLong(t.substring(t.indexOf('/') + 1));
        }
        assertTrue("a position: " + position, position.has("seq"));
        return position.path("seq").asLong();
    }

    protected static void assertContains(String what, String text, String... fragments) {
        for (String f : fragments) {
            assertTrue(what + " should contain '" + f + "' but was: " + text, text.contains(f));
        }
    }
}
