package io.doppel.itests.harness;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Decides whether a booting appliance is ready for a test. {@link Appliance#start()} polls it until
 * it holds or the start timeout passes. A probe answers {@code false} (rather than throwing) while
 * the console is not reachable yet.
 */
@FunctionalInterface
public interface ReadinessProbe {

    /** Time a single probe command may take; a boot in progress answers within it. */
    Duration PROBE_COMMAND_TIMEOUT = Duration.ofSeconds(20);

    boolean isReady(Appliance appliance);

    /** Ready when both this and {@code other} hold. */
    default ReadinessProbe and(ReadinessProbe other) {
        return appliance -> isReady(appliance) && other.isReady(appliance);
    }

    /**
     * Ready when the console answers and every named feature is installed and started. Karaf
     * installs the boot features in one deployment, so when {@code doppel} is started, the whole
     * boot is done.
     */
    static ReadinessProbe featuresStarted(String... features) {
        List<String> wanted = List.of(features);
        return appliance -> {
            ShellResult result = appliance.exec(InstalledFeature.LIST_COMMAND, PROBE_COMMAND_TIMEOUT);
            if (result.failed()) {
                return false;
            }
            Set<String> started = InstalledFeature.parse(result.output()).stream()
                    .filter(InstalledFeature::isStarted)
                    .map(InstalledFeature::name)
                    .collect(Collectors.toSet());
            return started.containsAll(wanted);
        };
    }

    /** Ready when the console answers {@code command} with exit status 0. */
    static ReadinessProbe commandSucceeds(String command) {
        return appliance -> appliance.exec(command, PROBE_COMMAND_TIMEOUT).succeeded();
    }
}
