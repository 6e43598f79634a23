package io.doppel.itests.harness;

import java.util.ArrayList;
import java.util.List;

/**
 * One row of {@code feature:list -i --no-format}.
 *
 * @param name     feature name
 * @param version  feature version
 * @param required whether it was asked for (boot or {@code feature:install}) rather than pulled in
 * @param state    {@code Started}, {@code Resolved} or {@code Uninstalled}
 */
public record InstalledFeature(String name, String version, boolean required, String state) {

    /** The console command whose output {@link #parse} reads. */
    public static final String LIST_COMMAND = "feature:list -i --no-format";

    /** Parses the rows of {@link #LIST_COMMAND}. */
    public static List<InstalledFeature> parse(String output) {
        List<InstalledFeature> features = new ArrayList<>();
        for (String line : output.lines().toList()) {
            if (line.isBlank()) {
                continue;
            }
            // name, version, required, state, repository, description
            String[] columns = line.split("\t", 6);
            if (columns.length < 4) {
                throw new IllegalArgumentException("Not a feature:list row (tab-separated name, version, "
                        + "required, state, ...): '" + line + "'");
            }
            features.add(new InstalledFeature(columns[0].trim(), columns[1].trim(), !columns[2].isBlank(),
                    columns[3].trim()));
        }
        return features;
    }

    public boolean isStarted() {
        return "Started".equals(state);
    }
}
