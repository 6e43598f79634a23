package io.doppel.itests.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One row of {@code bundle:list -t 0 --no-format}.
 *
 * @param id         bundle id
 * @param state      Karaf's state column: {@code Active}, {@code Resolved}, {@code Installed}, or an
 *                   extended state such as {@code Failure}, {@code GracePeriod}, {@code Waiting}
 * @param startLevel the bundle's start level
 * @param version    bundle version
 * @param name       bundle name; Karaf appends {@code ", Hosts: ..."} to fragments and
 *                   {@code ", Fragments: ..."} to their hosts
 */
public record InstalledBundle(long id, String state, int startLevel, String version, String name) {

    /** The console command whose output {@link #parse} reads. */
    public static final String LIST_COMMAND = "bundle:list -t 0 --no-format";

    private static final Pattern ROW = Pattern.compile("^\\s*\\d+\\t.*");

    /** Parses the rows of {@link #LIST_COMMAND}; the header line is skipped. */
    public static List<InstalledBundle> parse(String output) {
        List<InstalledBundle> bundles = new ArrayList<>();
        for (String line : output.lines().toList()) {
            if (!ROW.matcher(line).matches()) {
                continue;
            }
            String[] columns = line.split("\t", 5);
            if (columns.length < 5) {
                throw new IllegalArgumentException("Not a bundle:list row (5 tab-separated columns): '" + line + "'");
            }
            bundles.add(new InstalledBundle(Long.parseLong(columns[0].trim()), columns[1].trim(),
                    Integer.parseInt(columns[2].trim()), columns[3].trim(), columns[4].trim()));
        }
        return bundles;
    }

    public boolean isFragment() {
        return name.contains(", Hosts: ");
    }

    /** Active, or a resolved fragment (fragments never become active). */
    public boolean isHealthy() {
        return "Active".equals(state) || (isFragment() && "Resolved".equals(state));
    }

    @Override
    public String toString() {
        return id + " " + state + " " + name + " " + version;
    }
}
