package io.doppel.itests.harness;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Creates clusters for a JUnit 5 test class and closes them with the test's outcome: a cluster
 * created in {@code @BeforeAll} lives until the class is done, one created in a test or
 * {@code @BeforeEach} until that test is done. A failure keeps the work directory
 * ({@code target/doppel-it/TestClass[-method]}) for a post-mortem.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final ClusterExtension clusters = new ClusterExtension();
 *
 * @BeforeAll
 * static void boot() {
 *     cluster = clusters.create("primary", "secondary").startAll();
 * }
 * }</pre>
 * Register it in a {@code static} field; test methods run one at a time.
 */
public final class ClusterExtension
        implements BeforeAllCallback, BeforeEachCallback, AfterEachCallback, AfterAllCallback, TestWatcher {

    /** System property: root of the work directories (default {@code ${basedir}/target/doppel-it}). */
    public static final String WORK_ROOT_PROPERTY = "doppel.workdir";

    private final Path root;
    private final List<Cluster> classClusters = new ArrayList<>();
    private final List<Cluster> testClusters = new ArrayList<>();
    private String className = "cluster";
    private String testName;
    private boolean aTestFailed;
    private int created;

    public ClusterExtension() {
        this(Path.of(System.getProperty(WORK_ROOT_PROPERTY,
                Path.of(System.getProperty("basedir", "."), "target", "doppel-it").toString())));
    }

    public ClusterExtension(Path root) {
        this.root = root.toAbsolutePath();
    }

    /** A cluster of appliances with these names, unpacked and not started. */
    public Cluster create(String... names) {
        return create(builder -> builder.appliances(names));
    }

    /** A cluster of {@code count} appliances ({@code node1}, ...), unpacked and not started. */
    public Cluster create(int count) {
        return create(builder -> builder.appliances(count));
    }

    /** A cluster declared by {@code declaration} (names, distribution, per-appliance settings). */
    public synchronized Cluster create(UnaryOperator<Cluster.Builder> declaration) {
        created++;
        String directory = className + (testName == null ? "" : "-" + testName) + (created > 1 ? "-" + created : "");
        Cluster cluster = declaration.apply(Cluster.builder(root.resolve(directory))).build();
        (testName == null ? classClusters : testClusters).add(cluster);
        return cluster;
    }

    @Override
    public synchronized void beforeAll(ExtensionContext context) {
        className = context.getRequiredTestClass().getSimpleName();
    }

    @Override
    public synchronized void beforeEach(ExtensionContext context) {
        testName = context.getRequiredTestMethod().getName();
    }

    @Override
    public synchronized void afterEach(ExtensionContext context) {
        boolean failed = context.getExecutionException().isPresent();
        aTestFailed |= failed;
        closeAll(testClusters, failed);
        testName = null;
    }

    @Override
    public synchronized void testFailed(ExtensionContext context, Throwable cause) {
        aTestFailed = true;
    }

    @Override
    public synchronized void afterAll(ExtensionContext context) {
        closeAll(classClusters, aTestFailed || context.getExecutionException().isPresent());
    }

    private static void closeAll(List<Cluster> clusters, boolean failed) {
        RuntimeException failure = null;
        for (Cluster cluster : clusters) {
            if (failed) {
                cluster.markFailed();
            }
            try {
                cluster.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        clusters.clear();
        if (failure != null) {
            throw failure;
        }
    }
}
