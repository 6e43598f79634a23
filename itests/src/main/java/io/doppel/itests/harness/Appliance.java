package io.doppel.itests.harness;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Pattern;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Doppel appliance: a Karaf distribution unpacked into its own directory, run as a child
 * process of the test JVM, driven through its SSH console.
 * <p>
 * Karaf runs as {@code bin/karaf daemon}: the script {@code exec}s the JVM, so the child process
 * <em>is</em> the JVM, stays in the foreground, needs no terminal, and exits cleanly on SIGTERM.
 * ({@code bin/karaf server} and {@code run} keep the script as the JVM's parent, and SIGTERM to the
 * script orphans the JVM.) The harness still tracks the JVM by its pid file and the child's
 * descendants, so that a wrapper in between would be killed too.
 * <p>
 * Console commands go through OpenSSH with key login ({@link #exec}); see
 * {@code docs/testing-harness.md} for why and what it costs.
 */
public final class Appliance {

    private static final Logger LOG = LoggerFactory.getLogger(Appliance.class);

    /** The console user; {@code etc/keys.properties} gives it the admin group. */
    public static final String USER = "karaf";
    public static final String HOST = "127.0.0.1";

    private static final Duration UNPACK_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration GONE_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration POLL_INTERVAL = Duration.ofMillis(250);
    private static final String DEFAULT_JAVA_OPTIONS = "-Xms64m -Xmx512m";
    private static final Pattern EXPORT_NAME = Pattern.compile("[A-Za-z0-9._~-]+");
    private static final int DIAGNOSTIC_LINES = 40;

    private final String name;
    private final Path home;
    private final Ports ports;
    private final SshKey key;
    private final ObjectMapper json = new ObjectMapper();

    private Duration startTimeout = DEFAULT_START_TIMEOUT;
    private Duration commandTimeout = DEFAULT_COMMAND_TIMEOUT;
    private String javaOptions = DEFAULT_JAVA_OPTIONS;
    private ReadinessProbe readiness = ReadinessProbe.featuresStarted("doppel");

    // written by the life-cycle methods, read by accessors from any thread
    private volatile BackgroundProcess karaf;
    private volatile ProcessHandle jvm;
    private volatile long launchedNanos;
    private volatile Duration lastStartDuration;
    private volatile String lastProbeFailure;

    private Appliance(String name, Path home, Ports ports, SshKey key) {
        this.name = name;
        this.home = home;
        this.ports = ports;
        this.key = key;
    }

    /**
     * Unpacks the distribution into {@code home} (which must not exist or be empty) and configures
     * it: console and NBD on 127.0.0.1 at the given ports, key login for {@link #USER} with
     * {@code key}, and {@code karaf.name} set to {@code name} (what {@code system:name} answers).
     */
    public static Appliance unpack(Distribution distribution, Path home, String name, Ports ports, SshKey key) {
        Objects.requireNonNull(distribution, "distribution");
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("Invalid appliance name '" + name
                    + "': use letters, digits, '.', '_' and '-'");
        }
        createEmptyDirectory(home);
        Processes.run(UNPACK_TIMEOUT, "tar", "xzf", distribution.tarGz().toString(), "-C", home.toString(),
                "--strip-components=1").requireSuccess();
        if (!Files.isExecutable(home.resolve("bin/karaf"))) {
            throw new HarnessException(distribution.tarGz() + " did not unpack into a Karaf distribution: "
                    + home.resolve("bin/karaf") + " is missing");
        }
        Appliance appliance = new Appliance(name, home, ports, key);
        appliance.configure("org.apache.karaf.shell", "sshHost", HOST);
        appliance.configure("org.apache.karaf.shell", "sshPort", Integer.toString(ports.ssh()));
        appliance.configure("io.doppel.nbd", "address", HOST);
        appliance.configure("io.doppel.nbd", "port", Integer.toString(ports.nbd()));
        appliance.configure("io.doppel.transport", "address", HOST);
        appliance.configure("io.doppel.transport", "port", Integer.toString(ports.transport()));
        appliance.setSystemProperty("karaf.name", name);
        ConfigFiles.write(home.resolve("etc/keys.properties"), "# Key login for the Doppel test harness.\n"
                + key.keysPropertiesEntry(USER) + "\n"
                + "_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n");
        LOG.info("Unpacked {} into {} (ssh {}, nbd {}, transport {})", name, home, ports.ssh(), ports.nbd(),
                ports.transport());
        return appliance;
    }

    // ---------------------------------------------------------------- configuration before start

    /**
     * Sets {@code key = value} in {@code etc/PID.cfg} (created if missing). Before start it is
     * read at boot; while running, Karaf's file watcher applies it within a few seconds.
     */
    public Appliance configure(String pid, String key, String value) {
        if (pid == null || !pid.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("Invalid configuration PID '" + pid
                    + "': use letters, digits, '.', '_' and '-'");
        }
        ConfigFiles.set(etcDir().resolve(pid + ".cfg"), key, value);
        return this;
    }

    /** The value of {@code key} in {@code etc/PID.cfg}, if set. */
    public Optional<String> configuration(String pid, String key) {
        return ConfigFiles.get(etcDir().resolve(pid + ".cfg"), key);
    }

    /** Sets a JVM system property in {@code etc/system.properties}; it takes effect at the next start. */
    public Appliance setSystemProperty(String key, String value) {
        ConfigFiles.set(etcDir().resolve("system.properties"), key, value);
        return this;
    }

    /** JVM options for the next start (default {@value #DEFAULT_JAVA_OPTIONS}); passed as {@code EXTRA_JAVA_OPTS}. */
    public Appliance javaOptions(String options) {
        this.javaOptions = Objects.requireNonNull(options, "options");
        return this;
    }

    /** How long {@link #start()} waits for readiness (default 90 s). */
    public Appliance startTimeout(Duration timeout) {
        this.startTimeout = requirePositive(timeout, "start timeout");
        return this;
    }

    /** How long {@link #exec(String)} lets a command run (default 60 s). */
    public Appliance commandTimeout(Duration timeout) {
        this.commandTimeout = requirePositive(timeout, "command timeout");
        return this;
    }

    /** What "ready" means (default: feature {@code doppel} started). */
    public Appliance readyWhen(ReadinessProbe probe) {
        this.readiness = Objects.requireNonNull(probe, "probe");
        return this;
    }

    // ---------------------------------------------------------------- life cycle

    /** Starts Karaf and waits until it is ready; returns the time it took. */
    public Duration start() {
        launch();
        return awaitReady();
    }

    /**
     * Starts Karaf without waiting; {@link #awaitReady()} waits. Lets several appliances boot at
     * the same time.
     */
    public synchronized void launch() {
        if (isRunning()) {
            throw new IllegalStateException(name + " is already running (pid " + karaf.pid() + ")");
        }
        try {
            // a stale pid file would name a dead (or, worse, reused) pid
            Files.deleteIfExists(home.resolve("karaf.pid"));
            Files.writeString(consoleLog().path(), "=== " + Instant.now() + " starting " + name + "\n",
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare " + home + " for a start", e);
        }
        ProcessBuilder builder = new ProcessBuilder(home.resolve("bin/karaf").toString(), "daemon")
                .directory(home.toFile());
        Map<String, String> environment = builder.environment();
        // the caller's Karaf or Java settings must not leak into the appliance
        environment.keySet().removeIf(variable -> variable.startsWith("KARAF_") || variable.startsWith("JAVA_")
                || variable.equals("EXTRA_JAVA_OPTS"));
        environment.put("JAVA_HOME", System.getProperty("java.home"));
        environment.put("EXTRA_JAVA_OPTS", javaOptions);
        // after a SIGKILL, instances/instance.properties still names the old pid
        environment.put("CHECK_ROOT_INSTANCE_RUNNING", "false");
        jvm = null;
        lastProbeFailure = null;
        launchedNanos = System.nanoTime();
        karaf = Processes.start(consoleLog().path(), builder);
        LOG.info("Launched {} (pid {})", name, karaf.pid());
    }

    /** Waits until the readiness probe holds; throws with the log tails if it does not in time. */
    public Duration awaitReady() {
        BackgroundProcess process = requireLaunched();
        try {
            await(name + " ready")
                    .atMost(startTimeout)
                    .pollInSameThread()
                    .pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofMillis(500))
                    .failFast("Karaf of " + name + " exited", () -> !process.isAlive())
                    .until(this::probeOnce);
        } catch (ConditionTimeoutException | TerminalFailureException e) {
            throw new HarnessException(name + " did not become ready: " + e.getMessage() + diagnostics(), e);
        }
        jvm = findJvm().orElseThrow(() -> new HarnessException("No Karaf JVM found under pid " + process.pid()
                + " of " + name + diagnostics()));
        lastStartDuration = Duration.ofNanos(System.nanoTime() - launchedNanos);
        LOG.info("{} ready in {} (JVM pid {}, ssh {}, nbd {})", name, Text.seconds(lastStartDuration), jvm.pid(),
                ports.ssh(), ports.nbd());
        return lastStartDuration;
    }

    private boolean probeOnce() {
        try {
            return readiness.isReady(this);
        } catch (HarnessException e) {
            lastProbeFailure = e.getMessage();
            return false;
        }
    }

    /**
     * Kills the Karaf JVM (and a wrapper, if any) with SIGKILL, waits for them, and checks that the
     * JVM is gone. Does nothing if the appliance is not running.
     */
    public synchronized void kill() {
        if (karaf == null) {
            return;
        }
        Optional<ProcessHandle> target = findJvm();
        karaf.kill();
        target.ifPresent(handle -> awaitGone(handle, "SIGKILL"));
        LOG.info("Killed {} (JVM pid {})", name, target.map(ProcessHandle::pid).orElse(karaf.pid()));
        karaf = null;
        jvm = null;
    }

    /** Stops gracefully with SIGTERM, waiting up to 30 s before killing it. */
    public StopResult stop() {
        return stop(DEFAULT_STOP_TIMEOUT);
    }

    /**
     * Sends SIGTERM to the Karaf JVM and waits up to {@code timeout} for it to exit; kills it with
     * SIGKILL after that.
     */
    public synchronized StopResult stop(Duration timeout) {
        BackgroundProcess process = requireLaunched();
        Optional<ProcessHandle> target = findJvm();
        long started = System.nanoTime();
        ProcessResult result;
        if (target.isPresent() && target.get().pid() != process.pid()) {
            // a wrapper script would not pass SIGTERM on: signal the JVM, then wait for the wrapper
            target.get().destroy();
            result = process.waitFor(timeout);
        } else {
            result = process.terminate(timeout);
        }
        target.ifPresent(handle -> awaitGone(handle, "stop"));
        StopResult stopped = new StopResult(result.exitCode(), Duration.ofNanos(System.nanoTime() - started),
                !result.timedOut());
        if (stopped.graceful()) {
            LOG.info("Stopped {} in {} (exit code {})", name, Text.seconds(stopped.elapsed()), stopped.exitCode());
        } else {
            LOG.warn("{} did not stop within {}; killed it", name, Text.seconds(timeout));
        }
        karaf = null;
        jvm = null;
        return stopped;
    }

    /** Stops the appliance if it runs, then starts it again on the same directory and ports. */
    public Duration restart() {
        if (isRunning()) {
            stop();
        }
        return start();
    }

    public synchronized boolean isRunning() {
        return karaf != null && karaf.isAlive();
    }

    /** The pid of the Karaf JVM, once {@link #awaitReady()} has found it. */
    public synchronized OptionalLong jvmPid() {
        return jvm == null ? OptionalLong.empty() : OptionalLong.of(jvm.pid());
    }

    /** How long the last start took from launch to ready. */
    public Optional<Duration> lastStartDuration() {
        return Optional.ofNullable(lastStartDuration);
    }

    // ---------------------------------------------------------------- console

    /** Runs a console command; a failing command is a result with a non-zero exit status, not an exception. */
    public ShellResult exec(String command) {
        return exec(command, commandTimeout);
    }

    /**
     * Runs a console command through {@code ssh}. Throws {@link HarnessException} only if the call
     * does not finish within {@code timeout} (ssh is then killed).
     */
    public ShellResult exec(String command, Duration timeout) {
        if (command == null || command.isBlank()) {
            throw new IllegalArgumentException("The console command is empty");
        }
        List<String> ssh = new ArrayList<>(List.of("ssh", "-n", "-T", "-F", "/dev/null",
                "-p", Integer.toString(ports.ssh()), "-i", key.privateKey().toString(),
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=10", USER + "@" + HOST));
        ssh.add(command);
        ProcessResult process = Processes.run(timeout, ssh);
        if (process.timedOut()) {
            throw new HarnessException("`" + command + "` on " + name + " did not finish within "
                    + Text.seconds(timeout) + "; ssh was killed");
        }
        ShellResult result = ShellResult.of(name, command, process);
        LOG.debug("{}: `{}` -> {} in {} ms", name, command, result.exitStatus(), result.elapsed().toMillis());
        return result;
    }

    /** Runs a console command and returns its output; throws {@link CommandFailedException} if it fails. */
    public String execOk(String command) {
        return exec(command).requireSuccess().output();
    }

    /** Runs a command that prints JSON (such as {@code doppel:... --json}) and parses its output. */
    public JsonNode execJson(String command) {
        String output = execOk(command);
        try {
            return json.readTree(output);
        } catch (JsonProcessingException e) {
            throw new HarnessException("`" + command + "` on " + name + " did not print JSON: "
                    + e.getOriginalMessage() + "\n--- output\n" + output, e);
        }
    }

    /** Runs a command that prints JSON and maps it onto {@code type} (a record, say). */
    public <T> T execJson(String command, Class<T> type) {
        JsonNode tree = execJson(command);
        try {
            return json.treeToValue(tree, type);
        } catch (JsonProcessingException e) {
            throw new HarnessException("The JSON of `" + command + "` on " + name + " does not fit "
                    + type.getName() + ": " + e.getOriginalMessage() + "\n--- output\n" + tree.toPrettyString(), e);
        }
    }

    /** The bundles as {@code bundle:list -t 0} shows them. */
    public List<InstalledBundle> bundles() {
        return InstalledBundle.parse(execOk(InstalledBundle.LIST_COMMAND));
    }

    /** Bundles that are neither active nor resolved fragments (Installed, Failure, GracePeriod, ...). */
    public List<InstalledBundle> unhealthyBundles() {
        return bundles().stream().filter(bundle -> !bundle.isHealthy()).toList();
    }

    /** The installed features as {@code feature:list -i} shows them. */
    public List<InstalledFeature> features() {
        return InstalledFeature.parse(execOk(InstalledFeature.LIST_COMMAND));
    }

    // ---------------------------------------------------------------- where things are

    public String name() {
        return name;
    }

    public Ports ports() {
        return ports;
    }

    public int sshPort() {
        return ports.ssh();
    }

    public int nbdPort() {
        return ports.nbd();
    }

    /** The port reserved for the site-to-site transport. */
    public int transportPort() {
        return ports.transport();
    }

    /** {@code nbd://127.0.0.1:PORT/EXPORT}, the form qemu-img, qemu-io and nbdcopy take. */
    public String nbdUri(String export) {
        if (export == null || !EXPORT_NAME.matcher(export).matches()) {
            throw new IllegalArgumentException("Invalid NBD export name '" + export
                    + "': use letters, digits, '.', '_', '~' and '-'");
        }
        return "nbd://" + HOST + ":" + ports.nbd() + "/" + export;
    }

    /** Karaf's home and base directory ({@code karaf.base}). */
    public Path home() {
        return home;
    }

    public Path etcDir() {
        return home.resolve("etc");
    }

    /** Where Doppel keeps its data ({@code ${karaf.base}/doppel}). */
    public Path dataDir() {
        return home.resolve("doppel");
    }

    /** Karaf's log, {@code data/log/karaf.log}. */
    public LogFile karafLog() {
        return new LogFile(home.resolve("data/log/karaf.log"));
    }

    /** Standard output and error of the Karaf process, appended across restarts. */
    public LogFile consoleLog() {
        return new LogFile(home.resolve("console.log"));
    }

    /** Lines of {@code karaf.log} containing a match of {@code regex}. */
    public List<String> grepLog(String regex) {
        return karafLog().grep(regex);
    }

    public SshKey sshKey() {
        return key;
    }

    /** The ssh command line that opens this appliance's console, for a person debugging a kept work dir. */
    public String sshCommand() {
        return "ssh -p " + ports.ssh() + " -i " + key.privateKey() + " -o StrictHostKeyChecking=no"
                + " -o UserKnownHostsFile=/dev/null " + USER + "@" + HOST;
    }

    @Override
    public String toString() {
        return name + " (" + home + ", ssh " + ports.ssh() + ", nbd " + ports.nbd() + ")";
    }

    // ---------------------------------------------------------------- internals

    private synchronized BackgroundProcess requireLaunched() {
        if (karaf == null) {
            throw new IllegalStateException(name + " has not been started");
        }
        return karaf;
    }

    /**
     * The Karaf JVM: the pid in {@code karaf.pid} if it is the child or one of its descendants,
     * else the child itself or a descendant running {@code java}.
     */
    private synchronized Optional<ProcessHandle> findJvm() {
        if (jvm != null && jvm.isAlive()) {
            return Optional.of(jvm);
        }
        if (karaf == null) {
            return Optional.empty();
        }
        ProcessHandle child = karaf.handle();
        List<ProcessHandle> candidates = new ArrayList<>();
        candidates.add(child);
        child.descendants().forEach(candidates::add);
        OptionalLong pidFile = readPidFile();
        if (pidFile.isPresent()) {
            Optional<ProcessHandle> named = candidates.stream()
                    .filter(handle -> handle.pid() == pidFile.getAsLong()).findFirst();
            if (named.isPresent()) {
                return named;
            }
        }
        return candidates.stream()
                .filter(handle -> handle.info().command().map(command -> command.endsWith("/java")).orElse(false))
                .findFirst();
    }

    private OptionalLong readPidFile() {
        Path file = home.resolve("karaf.pid");
        try {
            String text = Files.exists(file) ? Files.readString(file).trim() : "";
            return text.matches("\\d+") ? OptionalLong.of(Long.parseLong(text)) : OptionalLong.empty();
        } catch (IOException e) {
            return OptionalLong.empty();
        }
    }

    private void awaitGone(ProcessHandle handle, String after) {
        try {
            await("JVM " + handle.pid() + " of " + name + " gone after " + after)
                    .atMost(GONE_TIMEOUT)
                    .pollInSameThread()
                    .pollInterval(POLL_INTERVAL)
                    .until(() -> Processes.isGone(handle));
        } catch (ConditionTimeoutException e) {
            throw new HarnessException("The Karaf JVM " + handle.pid() + " of " + name + " is still alive "
                    + Text.seconds(GONE_TIMEOUT) + " after " + after, e);
        }
    }

    private String diagnostics() {
        StringBuilder text = new StringBuilder();
        if (lastProbeFailure != null) {
            text.append("\n--- last probe failure\n").append(lastProbeFailure);
        }
        text.append("\n(home ").append(home).append(", ssh port ").append(ports.ssh()).append(')');
        Text.appendSection(text, "tail of " + consoleLog(), consoleLog().tail(DIAGNOSTIC_LINES));
        Text.appendSection(text, "tail of " + karafLog(), karafLog().tail(DIAGNOSTIC_LINES));
        return text.toString();
    }

    private static void createEmptyDirectory(Path directory) {
        try {
            if (Files.isDirectory(directory)) {
                try (var entries = Files.list(directory)) {
                    if (entries.findAny().isPresent()) {
                        throw new IllegalArgumentException("Cannot unpack into " + directory + ": it is not empty");
                    }
                }
            }
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + directory, e);
        }
    }

    private static Duration requirePositive(Duration duration, String what) {
        if (duration == null || duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException("The " + what + " must be positive, not " + duration);
        }
        return duration;
    }
}
