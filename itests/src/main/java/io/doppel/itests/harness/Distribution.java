package io.doppel.itests.harness;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The Doppel distribution tar.gz that appliances are unpacked from.
 *
 * @param tarGz path of {@code doppel-distribution-VERSION.tar.gz}
 */
public record Distribution(Path tarGz) {

    /** System property with the tar.gz path; failsafe sets it from the dependency's file. */
    public static final String PATH_PROPERTY = "doppel.distribution";
    /** System property with the project version, for finding the tar.gz in the local repository. */
    public static final String VERSION_PROPERTY = "doppel.version";

    public Distribution {
        if (!Files.isRegularFile(tarGz)) {
            throw new IllegalArgumentException("The distribution " + tarGz + " does not exist; build "
                    + "karaf-distribution or set -D" + PATH_PROPERTY + "=/path/to/doppel-distribution.tar.gz");
        }
    }

    /**
     * The distribution named by {@value #PATH_PROPERTY}, or else the one installed in the local
     * Maven repository for {@value #VERSION_PROPERTY} (so that a test also runs from an IDE).
     */
    public static Distribution fromSystemProperties() {
        String path = System.getProperty(PATH_PROPERTY);
        if (path != null && !path.isBlank() && !path.startsWith("${")) {
            return new Distribution(Path.of(path));
        }
        String version = System.getProperty(VERSION_PROPERTY, "0.1.0-SNAPSHOT");
        String repository = System.getProperty("maven.repo.local",
                Path.of(System.getProperty("user.home"), ".m2", "repository").toString());
        return new Distribution(Path.of(repository, "io", "doppel", "doppel-distribution", version,
                "doppel-distribution-" + version + ".tar.gz"));
    }
}
