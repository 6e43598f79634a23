package io.doppel.itests.scenario;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.doppel.itests.harness.Appliance;
import io.doppel.itests.harness.InstalledBundle;
import io.doppel.itests.harness.Processes;
import io.doppel.itests.harness.ProcessResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Small steps the scenario tests share: console queries, qemu-io calls, log lines. */
final class Scenario {

    static final Duration TOOL_TIMEOUT = Duration.ofMinutes(1);

    private static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss,SSS");

    private Scenario() {
    }

    /** A directory under the cluster's work directory (kept with it when a test fails). */
    static Path directory(Path parent, String name) {
        try {
            return Files.createDirectories(parent.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + parent.resolve(name), e);
        }
    }

    /** {@code doppel:status --json}'s entry for {@code group}. */
    static JsonNode group(Appliance appliance, String group) {
        for (JsonNode node : appliance.execJson("doppel:status --json").path("groups")) {
            if (group.equals(node.path("name").asText())) {
                return node;
            }
        }
        throw new AssertionError("doppel:status on " + appliance.name() + " shows no group " + group);
    }

    /** {@code doppel:journal-status --json GROUP} (options go before arguments): one {@code JournalStatus}. */
    static JsonNode journal(Appliance appliance, String group) {
        return appliance.execJson("doppel:journal-status --json " + group);
    }

    /** The bundle with this symbolic name, from {@code bundle:list -s}. */
    static InstalledBundle bundle(Appliance appliance, String symbolicName) {
        return InstalledBundle.parse(appliance.execOk("bundle:list -s -t 0 --no-format")).stream()
                .filter(bundle -> bundle.name().equals(symbolicName)).findFirst()
                .orElseThrow(() -> new AssertionError("No bundle " + symbolicName + " on " + appliance.name()));
    }

    /** The bundle's jar as the distribution ships it, in {@code system/}. */
    static Path systemJar(Appliance appliance, String symbolicName) {
        Path directory = appliance.home().resolve("system/io/doppel").resolve(symbolicName);
        try (var files = Files.walk(directory)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".jar")).findFirst()
                    .orElseThrow(() -> new AssertionError("No jar of " + symbolicName + " under " + directory));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list " + directory, e);
        }
    }

    /** Runs qemu-io on {@code uri} with the given {@code -c} commands, write-back (no FUA on every write). */
    static ProcessResult qemuIo(String uri, String... commands) {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "raw", "-t", "writeback"));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        return Processes.run(TOOL_TIMEOUT, command);
    }

    /** Whether a qemu-io run did every command: exit 0 and no failure message (qemu-io may exit 0 after one). */
    static boolean qemuIoSucceeded(ProcessResult result) {
        String all = result.stdout() + result.stderr();
        return result.succeeded() && !all.contains("failed") && !all.contains("Pattern verification");
    }

    /** A karaf.log line and the match of a pattern in it. */
    record LogMatch(String line, Matcher matcher) {

        String group(int group) {
            return matcher.group(group);
        }

        /** The line's time stamp ({@code 2026-11-22T03:51:58,211 | INFO | ...}). */
        LocalDateTime time() {
            return LocalDateTime.parse(line.substring(0, line.indexOf(' ')), LOG_TIME);
        }
    }

    /**
     * Waits until the karaf.log written after {@code offset} has a line matching {@code regex}
     * and returns the first such line.
     */
    static LogMatch awaitLogLine(Appliance appliance, long offset, String regex, Duration timeout) {
        Pattern pattern = Pattern.compile(regex);
        await(appliance.name() + " logs /" + regex + "/").atMost(timeout).pollInterval(Duration.ofMillis(200))
                .until(() -> logLine(appliance, offset, pattern).isPresent());
        return logLine(appliance, offset, pattern).orElseThrow();
    }

    static Optional<LogMatch> logLine(Appliance appliance, long offset, Pattern pattern) {
        for (String line : appliance.karafLog().grepSince(offset, pattern.pattern())) {
            Matcher matcher = pattern.matcher(line);
            if (matcher.find()) {
                return Optional.of(new LogMatch(line, matcher));
            }
        }
        return Optional.empty();
    }
}
