package io.doppel.copyasync.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.lang.annotation.Annotation;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

import javax.xml.parsers.DocumentBuilderFactory;

import io.doppel.api.copy.ApplyObservation;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class AsyncCopyModeTest {

    private static final long MIB = 1 << 20;

    /** A pull that returned {@code records}; everything else about the sites is ordinary. */
    private static PullObservation pulled(int records, boolean more) {
        return new PullObservation(records, records * 4096L, more, 1500, 20, 50e6, 900 * MIB, 1024 * MIB, 0.3, 10 * MIB, 1024 * MIB);
    }

    private static ApplyObservation applying(long pending, double load) {
        return new ApplyObservation(pending, load, 512 * MIB, 1024 * MIB);
    }

    /** A configuration as Declarative Services hands it over. */
    private static AsyncCopyMode.Config config(LongSupplier interval, LongSupplier bytes, DoubleSupplier busyLoad) {
        return new AsyncCopyMode.Config() {
            @Override
            public long pullIntervalMillis() {
                return interval.getAsLong();
            }

            @Override
            public long pullBytes() {
                return bytes.getAsLong();
            }

            @Override
            public double busyLoad() {
                return busyLoad.getAsDouble();
            }

            @Override
            public Class<? extends Annotation> annotationType() {
                return AsyncCopyMode.Config.class;
            }
        };
    }

    private static AsyncCopyMode.Config config(long interval, long bytes, double busyLoad) {
        return config(() -> interval, () -> bytes, () -> busyLoad);
    }

    /** What Declarative Services does with text that is not a number: the accessor throws, naming the text. */
    private static LongSupplier notALong(String text) {
        return () -> {
            throw new IllegalStateException("java.lang.NumberFormatException: For input string: \"" + text + "\"");
        };
    }

    // ---- the contract --------------------------------------------------------------------------

    @Test
    void anAsyncCopyIsPulledAndTheHostDoesNotWaitForThePeer() {
        AsyncCopyMode mode = new AsyncCopyMode();
        assertThat(mode.name()).isEqualTo("async");
        assertThat(mode.transfer()).isEqualTo(CopyMode.Transfer.PULL);
        assertThat(mode.waitsForPeer()).isFalse();
        assertThat(mode.settings()).isEqualTo(AsyncSettings.DEFAULTS);
    }

    // ---- the pull plan -------------------------------------------------------------------------

    @Test
    void whenThePrimaryHoldsMoreTheNextPullFollowsAtOnce() {
        AsyncCopyMode mode = new AsyncCopyMode(new AsyncSettings(250, 2 * MIB, 0.8));
        PullPlan plan = mode.planPull(pulled(512, true));
        assertThat(plan.delayMillis()).isZero();
        assertThat(plan.maxBytes()).isEqualTo(2 * MIB);
        assertThat(plan.reason()).contains("more records");
    }

    @Test
    void otherwiseTheNextPullWaitsTheConfiguredInterval() {
        AsyncCopyMode mode = new AsyncCopyMode(new AsyncSettings(250, 2 * MIB, 0.8));
        for (int records : new int[] {0, 1, 512}) {
            PullPlan plan = mode.planPull(pulled(records, false));
            assertThat(plan.delayMillis()).as("after a pull of %d records", records).isEqualTo(250);
            assertThat(plan.maxBytes()).isEqualTo(2 * MIB);
            assertThat(plan.reason()).isEqualTo("fixed interval");
        }
        // the defaults differ, so the values above came from the settings
        PullPlan defaults = new AsyncCopyMode().planPull(pulled(0, false));
        assertThat(defaults.delayMillis()).isEqualTo(20);
        assertThat(defaults.maxBytes()).isEqualTo(4 * MIB);
    }

    @Test
    void theIntervalIsFixedWhateverElseWasObserved() {
        AsyncCopyMode mode = new AsyncCopyMode(new AsyncSettings(100, MIB, 0.9));
        PullObservation busyEverywhere = new PullObservation(0, 0, false, 900_000, 100, 0, 0, 1024 * MIB, 1.0, 1024 * MIB, 1024 * MIB);
        assertThat(mode.planPull(busyEverywhere)).isEqualTo(new PullPlan(100, MIB, "fixed interval"));
    }

    // ---- the apply budget ----------------------------------------------------------------------

    @Test
    void aBusySecondaryAppliesSmallBatchesAndAnIdleOneLargeOnes() {
        AsyncCopyMode mode = new AsyncCopyMode(new AsyncSettings(20, 4 * MIB, 0.5));
        assertThat(mode.applyBudget(applying(10_000, 0.0))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.49))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.5))).as("from busyLoad on").isEqualTo(AsyncCopyMode.BUSY_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.6))).isEqualTo(AsyncCopyMode.BUSY_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 1.0))).isEqualTo(AsyncCopyMode.BUSY_BATCH);
        assertThat(AsyncCopyMode.BUSY_BATCH).isLessThan(AsyncCopyMode.IDLE_BATCH);
        // with the default busyLoad of 0.9 the same load of 0.6 is not busy: the threshold is the configured one
        assertThat(new AsyncCopyMode().applyBudget(applying(10_000, 0.6))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
    }

    @ParameterizedTest(name = "load {0}")
    @ValueSource(doubles = {0.0, 0.3, 0.89, 0.9, 0.95, 1.0, 1.7, -0.2, Double.NaN})
    void applyingNeverStopsWhileRecordsArePending(double load) {
        AsyncCopyMode mode = new AsyncCopyMode();
        for (long pending : new long[] {1, 15, 16, 17, 100_000, Long.MAX_VALUE}) {
            assertThat(mode.applyBudget(applying(pending, load))).as("%d pending at load %s", pending, load).isPositive();
        }
    }

    // ---- configuration -----------------------------------------------------------------------

    @Test
    void goodValuesApplyAndAreUsedByThePlan() {
        AsyncCopyMode mode = new AsyncCopyMode();
        mode.configure(config(500, 64 << 10, 1.0));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(500, 64 << 10, 1.0));
        assertThat(mode.planPull(pulled(0, false))).isEqualTo(new PullPlan(500, 64 << 10, "fixed interval"));
        mode.configure(config(60_000, 256 * MIB, 0.01));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(60_000, 256 * MIB, 0.01));
        mode.configure(config(1, 4 * MIB, 0.9));
        assertThat(mode.planPull(pulled(0, false)).delayMillis()).isEqualTo(1);
    }

    @Test
    void aBadValueIsRefusedNamingTheKeyAndTheValueAndThePreviousOneIsKept() {
        AsyncSettings previous = new AsyncSettings(300, 8 * MIB, 0.7);
        AsyncSettings.Outcome o = AsyncSettings.resolve(() -> -5, () -> 1000, () -> 1.5, previous);
        assertThat(o.settings()).isEqualTo(previous);
        assertThat(o.errors()).hasSize(3);
        assertThat(o.errors().get(0)).contains(AsyncSettings.PID).contains("pullIntervalMillis = -5").contains("between 1 and 60000")
                .contains("keeping 300");
        assertThat(o.errors().get(1)).contains("pullBytes = 1000").contains("64 KiB").contains("keeping " + 8 * MIB);
        assertThat(o.errors().get(2)).contains("busyLoad = 1.5").contains("above 0 and at most 1").contains("keeping 0.7");
    }

    @ParameterizedTest(name = "busyLoad {0}")
    @ValueSource(doubles = {0.0, -0.5, 1.0000001, 2, Double.NaN, Double.POSITIVE_INFINITY})
    void aBusyLoadOutsideZeroToOneIsRefused(double busyLoad) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(() -> 20, () -> 4 * MIB, () -> busyLoad, AsyncSettings.DEFAULTS);
        assertThat(o.settings().busyLoad()).isEqualTo(0.9);
        assertThat(o.errors()).singleElement().asString().contains("busyLoad = " + busyLoad).contains("keeping 0.9");
    }

    @ParameterizedTest(name = "pullIntervalMillis {0}")
    @ValueSource(longs = {0, -1, -20, 60_001, Long.MAX_VALUE, Long.MIN_VALUE})
    void anIntervalOutsideItsRangeIsRefused(long interval) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(() -> interval, () -> 4 * MIB, () -> 0.9, AsyncSettings.DEFAULTS);
        assertThat(o.settings().pullIntervalMillis()).isEqualTo(20);
        assertThat(o.errors()).singleElement().asString().contains("pullIntervalMillis = " + interval);
    }

    @Test
    void eachKeyStandsAlone() {
        AsyncSettings.Outcome o = AsyncSettings.resolve(() -> 75, () -> 0, () -> 0.4, AsyncSettings.DEFAULTS);
        assertThat(o.settings()).isEqualTo(new AsyncSettings(75, 4 * MIB, 0.4));
        assertThat(o.errors()).singleElement().asString().contains("pullBytes = 0");
    }

    @Test
    void theModeKeepsItsValuesWhenTheConfigurationIsBad() {
        AsyncCopyMode mode = new AsyncCopyMode();
        mode.configure(config(300, 8 * MIB, 0.7));
        mode.configure(config(-1, -1, 0));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(300, 8 * MIB, 0.7));
        assertThat(mode.planPull(pulled(0, false))).isEqualTo(new PullPlan(300, 8 * MIB, "fixed interval"));
        assertThat(mode.applyBudget(applying(100, 0.75))).isEqualTo(AsyncCopyMode.BUSY_BATCH);
    }

    /**
     * A value in the configuration file that is not a number makes the Declarative Services
     * accessor throw: that key is reported with the text and keeps its value, and the mode
     * stays available with the others applied.
     */
    @Test
    void textThatIsNotANumberIsReportedAndDoesNotStopTheMode() {
        AsyncCopyMode mode = new AsyncCopyMode();
        mode.configure(config(notALong("20ms"), () -> 2 * MIB, () -> 0.8));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(20, 2 * MIB, 0.8));

        AsyncSettings.Outcome o = AsyncSettings.resolve(notALong("20ms"), notALong("4M"), () -> {
            throw new IllegalStateException("java.lang.NumberFormatException: For input string: \"high\"");
        }, new AsyncSettings(300, 8 * MIB, 0.7));
        assertThat(o.settings()).isEqualTo(new AsyncSettings(300, 8 * MIB, 0.7));
        assertThat(o.errors()).hasSize(3);
        assertThat(o.errors().get(0)).contains("pullIntervalMillis").contains("\"20ms\"").contains("keeping 300");
        assertThat(o.errors().get(1)).contains("pullBytes").contains("\"4M\"");
        assertThat(o.errors().get(2)).contains("busyLoad").contains("\"high\"").contains("keeping 0.7");
    }

    @Test
    void settingsBuiltInCodeRefuseBadValuesNamingThem() {
        assertThatThrownBy(() -> new AsyncSettings(-20, 4 * MIB, 0.9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pullIntervalMillis = -20");
        assertThatThrownBy(() -> new AsyncSettings(20, 10, 0.9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pullBytes = 10");
        assertThatThrownBy(() -> new AsyncSettings(20, 4 * MIB, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("busyLoad = 0.0");
        assertThatThrownBy(() -> new AsyncCopyMode(null)).isInstanceOf(NullPointerException.class);
    }

    // ---- the component as Declarative Services sees it -----------------------------------------

    private static Document xml(String resource) throws Exception {
        try (InputStream in = AsyncCopyMode.class.getClassLoader().getResourceAsStream(resource)) {
            assertThat(in).as("%s was generated by bnd", resource).isNotNull();
            return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(in);
        }
    }

    private static Map<String, String> attributes(Document doc, String tag, String key, String value) {
        Map<String, String> out = new LinkedHashMap<>();
        NodeList nodes = doc.getElementsByTagName(tag);
        for (int i = 0; i < nodes.getLength(); i++) {
            Element e = (Element) nodes.item(i);
            out.put(e.getAttribute(key), e.getAttribute(value));
        }
        return out;
    }

    @Test
    void theComponentIsRegisteredAsTheAsyncModeWithItsConfiguration() throws Exception {
        Document ds = xml("OSGI-INF/" + AsyncCopyMode.class.getName() + ".xml");
        Element component = ds.getDocumentElement();
        assertThat(component.getAttribute("configuration-pid")).isEqualTo("io.doppel.copy.async");
        assertThat(component.getAttribute("configuration-policy")).as("works without a configuration").isIn("", "optional");
        assertThat(component.getAttribute("activate")).isEqualTo("configure");
        assertThat(component.getAttribute("modified")).isEqualTo("configure");
        assertThat(attributes(ds, "provide", "interface", "interface")).containsOnlyKeys(CopyMode.class.getName());
        assertThat(attributes(ds, "implementation", "class", "class")).containsOnlyKeys(AsyncCopyMode.class.getName());

        Map<String, String> props = attributes(ds, "property", "name", "value");
        assertThat(props).containsEntry(CopyMode.NAME, "async");
        assertThat(props.get(CopyMode.NAME)).as("the engine selects the mode by this property").isEqualTo(new AsyncCopyMode().name());
        assertThat(props).as("negative control: no other mode's name").doesNotContainEntry(CopyMode.NAME, "sync");
        assertThat(props).containsEntry("pullIntervalMillis", String.valueOf(AsyncSettings.DEFAULTS.pullIntervalMillis()))
                .containsEntry("pullBytes", String.valueOf(AsyncSettings.DEFAULTS.pullBytes()))
                .containsEntry("busyLoad", String.valueOf(AsyncSettings.DEFAULTS.busyLoad()));
    }

    @Test
    void theMetatypeDescribesTheKeysWithTheDefaultsInForce() throws Exception {
        Document mt = xml("OSGI-INF/metatype/" + AsyncCopyMode.Config.class.getName() + ".xml");
        assertThat(attributes(mt, "Designate", "pid", "pid")).containsOnlyKeys("io.doppel.copy.async");
        Map<String, String> defaults = attributes(mt, "AD", "id", "default");
        assertThat(defaults).containsOnly(
                Map.entry("pullIntervalMillis", String.valueOf(AsyncSettings.DEFAULTS.pullIntervalMillis())),
                Map.entry("pullBytes", String.valueOf(AsyncSettings.DEFAULTS.pullBytes())),
                Map.entry("busyLoad", String.valueOf(AsyncSettings.DEFAULTS.busyLoad())));
        assertThat(attributes(mt, "AD", "id", "description").values()).allSatisfy(d -> assertThat(d).isNotBlank());
    }
}
