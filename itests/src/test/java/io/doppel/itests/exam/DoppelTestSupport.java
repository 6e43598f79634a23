package io.doppel.itests.exam;

import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.configureConsole;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.karafDistributionConfiguration;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.keepRuntimeFolder;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.logLevel;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import javax.inject.Inject;

import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.api.console.SessionFactory;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.karaf.options.LogLevelOption.LogLevel;
import org.ops4j.pax.exam.options.extra.VMOption;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;

/**
 * Boots the real Doppel distribution (the tar.gz this build made) in Pax Exam, on free
 * ports, and runs shell commands in it the way an operator would.
 */
public abstract class DoppelTestSupport {

    protected static final String KARAF_VERSION = "4.4.10";

    @Inject
    protected BundleContext bundleContext;

    @Inject
    protected SessionFactory sessionFactory;

    private final ExecutorService shell = Executors.newCachedThreadPool();

    protected static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The options every Doppel container gets; {@code bootDoppel} false boots Karaf without our features. */
    protected static Option[] baseOptions(boolean bootDoppel, int nbdPort) {
        String dist = System.getProperty("doppel.distribution");
        if (dist == null || !new File(dist).isFile()) {
            throw new IllegalStateException("system property doppel.distribution must name the built tar.gz, got " + dist);
        }
        String repo = System.getProperty("maven.repo.local", System.getProperty("user.home") + "/.m2/repository");
        List<Option> o = new ArrayList<>();
        o.add(karafDistributionConfiguration().frameworkUrl(new File(dist).toURI().toString())
                .karafVersion(KARAF_VERSION).name("Doppel").unpackDirectory(new File("target/exam")).useDeployFolder(false));
        o.add(keepRuntimeFolder());
        o.add(configureConsole().ignoreLocalConsole());
        o.add(logLevel(LogLevel.INFO));
        o.add(editConfigurationFilePut("etc/org.apache.karaf.shell.cfg", "sshPort", String.valueOf(freePort())));
        o.add(editConfigurationFilePut("etc/org.ops4j.pax.url.mvn.cfg", "org.ops4j.pax.url.mvn.localRepository", repo));
        o.add(editConfigurationFilePut("etc/io.doppel.nbd.cfg", "port", String.valueOf(nbdPort)));
        o.add(editConfigurationFilePut("etc/io.doppel.transport.cfg", "port", String.valueOf(freePort())));
        if (!bootDoppel) {
            o.add(editConfigurationFilePut("etc/org.apache.karaf.features.cfg", "featuresBoot",
                    "(wrap), package/" + KARAF_VERSION + ", scr/" + KARAF_VERSION + ", log/" + KARAF_VERSION
                            + ", shell, ssh, bundle, config, system, feature, jaas, service, diagnostic, deployer, kar"));
        }
        o.add(systemProperty("pax.exam.osgi.unresolved.fail").value("true"));
        // bin/karaf's options for Java 9+ (without them the container logs OsgiLocator errors).
        String[] vm = {
            "--add-reads=java.xml=java.logging",
            "--add-exports=java.base/org.apache.karaf.specs.locator=java.xml,ALL-UNNAMED",
            "--patch-module", "java.base=lib/endorsed/org.apache.karaf.specs.locator-" + KARAF_VERSION + ".jar",
            "--patch-module", "java.xml=lib/endorsed/org.apache.karaf.specs.java.xml-" + KARAF_VERSION + ".jar",
            "--add-opens", "java.base/java.security=ALL-UNNAMED",
            "--add-opens", "java.base/java.net=ALL-UNNAMED",
            "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "--add-opens", "java.base/java.util=ALL-UNNAMED",
            "--add-opens", "java.naming/javax.naming.spi=ALL-UNNAMED",
            "--add-opens", "java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.file=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.ftp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.content.text=ALL-UNNAMED",
            "--add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED",
            "--add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED",
            "-classpath", "lib/jdk9plus/*" + File.pathSeparator + "lib/boot/*",
            "-Xmx512m",
        };
        for (String v : vm) {
            o.add(new VMOption(v));
        }
        return o.toArray(new Option[0]);
    }

    /** Runs a shell command as an operator would and returns what it printed; fails on an exception. */
    protected String executeCommand(String command) {
        return executeCommand(command, 120, false);
    }

    /** Runs a command that is expected to fail; returns its error text (the exception message). */
    protected String executeFailingCommand(String command) {
        return executeCommand(command, 120, true);
    }

    private String executeCommand(String command, long timeoutSeconds, boolean expectFailure) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Session session = sessionFactory.create(System.in, out, out);
        Future<Object> f = shell.submit(() -> {
            try {
                return session.execute(command);
            } finally {
                out.flush();
            }
        });
        try {
            f.get(timeoutSeconds, TimeUnit.SECONDS);
            if (expectFailure) {
                throw new AssertionError("command '" + command + "' succeeded but should have failed; it printed:\n" + bytes);
            }
            return bytes.toString(StandardCharsets.UTF_8);
        } catch (java.util.concurrent.ExecutionException e) {
            if (expectFailure) {
                return String.valueOf(e.getCause().getMessage());
            }
            throw new AssertionError("command '" + command + "' failed: " + e.getCause() + "\n" + bytes, e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            f.cancel(true);
            throw new AssertionError("command '" + command + "' did not finish in " + timeoutSeconds + " s:\n" + bytes);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            session.close();
        }
    }

    /** Polls until the condition holds or the deadline passes. */
    protected static void await(String what, long timeoutMillis, BooleanSupplier condition) {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + timeoutMillis + " ms waiting for " + what);
            }
            try {
                Thread.sleep(50); // polling interval, not a wait for a state
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** Bundles that are neither active nor a resolved fragment: what "no bundle in FAILURE" rules out. */
    protected List<String> brokenBundles() {
        List<String> broken = new ArrayList<>();
        for (Bundle b : bundleContext.getBundles()) {
            boolean fragment = b.getHeaders().get(Constants.FRAGMENT_HOST) != null;
            int want = fragment ? Bundle.RESOLVED : Bundle.ACTIVE;
            if (b.getState() != want) {
                broken.add(b.getSymbolicName() + " " + b.getVersion() + " state " + b.getState());
            }
        }
        return broken;
    }
}
