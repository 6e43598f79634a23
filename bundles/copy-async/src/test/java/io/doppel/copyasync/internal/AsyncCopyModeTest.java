package io.doppel.copyasync.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.lang.annotation.Annotation;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

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

    /** A configuration as Declarative Services hands it over: the defaults, with the given keys replaced. */
    private static AsyncCopyMode.Config config(Map<String, Supplier<?>> values) {
        return new AsyncCopyMode.Config() {
            @SuppressWarnings("unchecked")
            private <T> T get(String key, T otherwise) {
                Supplier<?> v = values.get(key);
                return v == null ? otherwise : (T) v.get();
            }

            @Override
            public long minIntervalMillis() {
                return get("minIntervalMillis", AsyncSettings.DEFAULTS.minIntervalMillis());
            }

            @Override
            public long maxIntervalMillis() {
                return get("maxIntervalMillis", AsyncSettings.DEFAULTS.maxIntervalMillis());
            }

            @Override
            public long pullBytes() {
                return get("pullBytes", AsyncSettings.DEFAULTS.pullBytes());
            }

            @Override
            public double busyLoad() {
                return get("busyLoad", AsyncSettings.DEFAULTS.busyLoad());
            }

            @Override
            public double primaryBusyLoad() {
                return get("primaryBusyLoad", AsyncSettings.DEFAULTS.primaryBusyLoad());
            }

            @Override
            public boolean yieldToBusyPrimary() {
                return get("yieldToBusyPrimary", AsyncSettings.DEFAULTS.yieldToBusyPrimary());
            }

            @Override
            public long linkBytesPerSecond() {
                return get("linkBytesPerSecond", AsyncSettings.DEFAULTS.linkBytesPerSecond());
            }

            @Override
            public Class<? extends Annotation> annotationType() {
                return AsyncCopyMode.Config.class;
            }
        };
    }

    private static Map<String, Supplier<?>> keys(Object... kv) {
        Map<String, Supplier<?>> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            m.put((String) kv[i], v instanceof Supplier<?> s ? s : () -> v);
        }
        return m;
    }

    /** What Declarative Services does with text that is not a number: the accessor throws, naming the text. */
    private static Supplier<Object> notANumber(String text) {
        return () -> {
            throw new IllegalStateException("java.lang.NumberFormatException: For input string: \"" + text + "\"");
        };
    }

    private static AsyncSettings settings(long min, long max, long bytes, double busy) {
        return new AsyncSettings(min, max, bytes, busy, 0.9, false, 0);
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

    // ---- the pull plan (PullControllerTest covers each rule) -----------------------------------

    @Test
    void thePlanComesFromTheControllerWithTheSettingsInForce() {
        AsyncCopyMode mode = new AsyncCopyMode(settings(5, 250, 2 * MIB, 0.8));
        assertThat(mode.planPull(pulled(512, true))).isEqualTo(new PullPlan(5, 2 * MIB, "the primary holds more records"));
        assertThat(mode.planPull(pulled(0, false))).as("previous 20 ms, doubled")
                .isEqualTo(new PullPlan(40, 2 * MIB, "no records came back"));
        PullPlan defaults = new AsyncCopyMode().planPull(pulled(512, true));
        assertThat(defaults.delayMillis()).isEqualTo(1);
        assertThat(defaults.maxBytes()).isEqualTo(4 * MIB);
    }

    // ---- the apply budget ----------------------------------------------------------------------

    @Test
    void aBusySecondaryAppliesSmallBatchesAndAnIdleOneLargeOnes() {
        AsyncCopyMode mode = new AsyncCopyMode(settings(1, 1000, 4 * MIB, 0.5));
        assertThat(mode.applyBudget(applying(10_000, 0.0))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.49))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.5))).as("at busyLoad: not yet").isEqualTo(AsyncCopyMode.IDLE_BATCH);
        assertThat(mode.applyBudget(applying(10_000, 0.51))).as("above busyLoad").isEqualTo(AsyncCopyMode.BUSY_BATCH);
        // 1 turns it off: no load is above it
        assertThat(new AsyncCopyMode(settings(1, 1000, 4 * MIB, 1.0)).applyBudget(applying(10_000, 1.0))).isEqualTo(AsyncCopyMode.IDLE_BATCH);
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
        mode.configure(config(keys("minIntervalMillis", 10L, "maxIntervalMillis", 500L, "pullBytes", 64L << 10, "busyLoad", 1.0,
                "primaryBusyLoad", 0.5, "yieldToBusyPrimary", false, "linkBytesPerSecond", 125_000_000L)));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(10, 500, 64 << 10, 1.0, 0.5, false, 125_000_000L));
        assertThat(mode.planPull(pulled(512, true))).isEqualTo(new PullPlan(10, 64 << 10, "the primary holds more records"));
        mode.configure(config(keys("minIntervalMillis", 60_000L, "maxIntervalMillis", 60_000L, "pullBytes", 256 * MIB)));
        assertThat(mode.settings()).isEqualTo(new AsyncSettings(60_000, 60_000, 256 * MIB, 0.9, 0.9, false, 0));
        assertThat(mode.planPull(pulled(512, true)).delayMillis()).isEqualTo(60_000);
    }

    @Test
    void aBadValueIsRefusedNamingTheKeyAndTheValueAndThePreviousOneIsKept() {
        AsyncSettings previous = new AsyncSettings(3, 300, 8 * MIB, 0.7, 0.8, false, 1000);
        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("minIntervalMillis", -5L, "maxIntervalMillis", 0L,
                "pullBytes", 1000L, "busyLoad", 1.5, "primaryBusyLoad", 0.0, "yieldToBusyPrimary", false, "linkBytesPerSecond", -1L)),
                previous);
        assertThat(o.settings()).isEqualTo(previous);
        assertThat(o.errors()).hasSize(6);
        assertThat(o.errors().get(0)).contains(AsyncSettings.PID).contains("minIntervalMillis = -5").contains("between 1 and 60000")
                .contains("keeping 3");
        assertThat(o.errors().get(1)).contains("maxIntervalMillis = 0").contains("keeping 300");
        assertThat(o.errors().get(2)).contains("pullBytes = 1000").contains("64 KiB").contains("keeping " + 8 * MIB);
        assertThat(o.errors().get(3)).contains("busyLoad = 1.5").contains("above 0 and at most 1").contains("keeping 0.7");
        assertThat(o.errors().get(4)).contains("primaryBusyLoad = 0.0").contains("keeping 0.8");
        assertThat(o.errors().get(5)).contains("linkBytesPerSecond = -1").contains("keeping 1000");
    }

    @Test
    void aLongestIntervalBelowTheShortestIsRefusedAndBothAreKept() {
        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("minIntervalMillis", 500L, "maxIntervalMillis", 100L)),
                AsyncSettings.DEFAULTS);
        assertThat(o.settings()).isEqualTo(AsyncSettings.DEFAULTS);
        assertThat(o.errors()).singleElement().asString().contains("maxIntervalMillis = 100")
                .contains("must not be below minIntervalMillis (500)").contains("keeping 1 to 1000");
    }

    @ParameterizedTest(name = "busyLoad {0}")
    @ValueSource(doubles = {0.0, -0.5, 1.0000001, 2, Double.NaN, Double.POSITIVE_INFINITY})
    void aBusyLoadOutsideZeroToOneIsRefused(double busyLoad) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("busyLoad", busyLoad)), AsyncSettings.DEFAULTS);
        assertThat(o.settings().busyLoad()).isEqualTo(0.9);
        assertThat(o.errors()).singleElement().asString().contains("busyLoad = " + busyLoad).contains("keeping 0.9");
    }

    @ParameterizedTest(name = "minIntervalMillis {0}")
    @ValueSource(longs = {0, -1, -20, 60_001, Long.MAX_VALUE, Long.MIN_VALUE})
    void anIntervalOutsideItsRangeIsRefused(long interval) {
        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("minIntervalMillis", interval)), AsyncSettings.DEFAULTS);
        assertThat(o.settings().minIntervalMillis()).isEqualTo(1);
        assertThat(o.errors()).singleElement().asString().contains("minIntervalMillis = " + interval);
    }

    @Test
    void eachKeyStandsAlone() {
        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("maxIntervalMillis", 75L, "pullBytes", 0L, "busyLoad", 0.4)),
                AsyncSettings.DEFAULTS);
        assertThat(o.settings()).isEqualTo(settings(1, 75, 4 * MIB, 0.4));
        assertThat(o.errors()).singleElement().asString().contains("pullBytes = 0");
    }

    @Test
    void theModeKeepsItsValuesWhenTheConfigurationIsBad() {
        AsyncCopyMode mode = new AsyncCopyMode();
        mode.configure(config(keys("minIntervalMillis", 3L, "maxIntervalMillis", 300L, "pullBytes", 8 * MIB, "busyLoad", 0.7)));
        mode.configure(config(keys("minIntervalMillis", -1L, "maxIntervalMillis", -1L, "pullBytes", -1L, "busyLoad", 0.0)));
        assertThat(mode.settings()).isEqualTo(settings(3, 300, 8 * MIB, 0.7));
        assertThat(mode.planPull(pulled(512, true))).isEqualTo(new PullPlan(3, 8 * MIB, "the primary holds more records"));
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
        mode.configure(config(keys("minIntervalMillis", notANumber("20ms"), "pullBytes", 2 * MIB, "busyLoad", 0.8)));
        assertThat(mode.settings()).isEqualTo(settings(1, 1000, 2 * MIB, 0.8));

        AsyncSettings.Outcome o = AsyncSettings.resolve(config(keys("minIntervalMillis", 3L, "maxIntervalMillis", notANumber("1s"), "pullBytes",
                notANumber("4M"), "busyLoad", notANumber("high"), "yieldToBusyPrimary", notANumber("perhaps"))),
                settings(3, 300, 8 * MIB, 0.7));
        assertThat(o.settings()).isEqualTo(settings(3, 300, 8 * MIB, 0.7));
        assertThat(o.errors()).hasSize(4);
        assertThat(o.errors().get(0)).contains("maxIntervalMillis").contains("\"1s\"").contains("keeping 300");
        assertThat(o.errors().get(1)).contains("pullBytes").contains("\"4M\"");
        assertThat(o.errors().get(2)).contains("busyLoad").contains("\"high\"").contains("keeping 0.7");
        assertThat(o.errors().get(3)).contains("yieldToBusyPrimary").contains("\"perhaps\"").contains("keeping false");
    }

    @Test
    void settingsBuiltInCodeRefuseBadValuesNamingThem() {
        assertThatThrownBy(() -> settings(-20, 1000, 4 * MIB, 0.9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("minIntervalMillis = -20");
        assertThatThrownBy(() -> settings(50, 10, 4 * MIB, 0.9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxIntervalMillis = 10").hasMessageContaining("not be below minIntervalMillis (50)");
        assertThatThrownBy(() -> settings(1, 1000, 10, 0.9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pullBytes = 10");
        assertThatThrownBy(() -> settings(1, 1000, 4 * MIB, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("busyLoad = 0.0");
        assertThatThrownBy(() -> new AsyncSettings(1, 1000, 4 * MIB, 0.9, 0.9, true, -5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("linkBytesPerSecond = -5");
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

    private static Map<String, String> defaultsAsText() {
        AsyncSettings d = AsyncSettings.DEFAULTS;
        Map<String, String> m = new LinkedHashMap<>();
        m.put("minIntervalMillis", String.valueOf(d.minIntervalMillis()));
        m.put("maxIntervalMillis", String.valueOf(d.maxIntervalMillis()));
        m.put("pullBytes", String.valueOf(d.pullBytes()));
        m.put("busyLoad", String.valueOf(d.busyLoad()));
        m.put("primaryBusyLoad", String.valueOf(d.primaryBusyLoad()));
        m.put("yieldToBusyPrimary", String.valueOf(d.yieldToBusyPrimary()));
        m.put("linkBytesPerSecond", String.valueOf(d.linkBytesPerSecond()));
        return m;
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
        assertThat(props).containsAllEntriesOf(defaultsAsText());
    }

    @Test
    void theMetatypeDescribesTheKeysWithTheDefaultsInForce() throws Exception {
        Document mt = xml("OSGI-INF/metatype/" + AsyncCopyMode.Config.class.getName() + ".xml");
        assertThat(attributes(mt, "Designate", "pid", "pid")).containsOnlyKeys("io.doppel.copy.async");
        Map<String, String> defaults = attributes(mt, "AD", "id", "default");
        assertThat(defaults).isEqualTo(defaultsAsText());
        assertThat(attributes(mt, "AD", "id", "description").values()).allSatisfy(d -> assertThat(d).isNotBlank());
    }
}
