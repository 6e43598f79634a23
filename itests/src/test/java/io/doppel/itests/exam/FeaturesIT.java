package io.doppel.itests.exam;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;

import javax.inject.Inject;

import org.apache.karaf.features.FeaturesService;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * Every Doppel feature installs alone into a fresh Karaf (without the appliance's boot
 * features) and leaves no bundle unresolved or stopped and no component unsatisfied or
 * failed.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class FeaturesIT extends DoppelTestSupport {

    @Inject
    protected FeaturesService features;

    @Inject
    protected ServiceComponentRuntime scr;

    @Configuration
    public Option[] config() {
        return baseOptions(false, freePort());
    }

    private void installAlone(String feature) throws Exception {
        assertTrue("the container must start without Doppel", features.listInstalledFeatures().length > 0);
        for (org.apache.karaf.features.Feature f : features.listInstalledFeatures()) {
            assertTrue("fresh container already has " + f.getName(), !f.getName().startsWith("doppel"));
        }
        features.installFeature(feature);
        assertTrue(feature + " is installed", features.isInstalled(features.getFeature(feature)));
        await("bundles of " + feature + " to start", 30_000, () -> brokenBundles().isEmpty());
        await("components of " + feature + " to be active", 30_000, () -> badComponents().isEmpty());
        assertEquals(List.of(), brokenBundles());
        assertEquals(List.of(), badComponents());
    }

    /** Doppel components that are not active (unsatisfied or failed activation), with the reason. */
    private List<String> badComponents() {
        List<String> bad = new ArrayList<>();
        for (ComponentDescriptionDTO d : scr.getComponentDescriptionDTOs()) {
            if (!d.bundle.symbolicName.startsWith("io.doppel")) {
                continue;
            }
            for (ComponentConfigurationDTO c : scr.getComponentConfigurationDTOs(d)) {
                if (c.state != ComponentConfigurationDTO.ACTIVE && c.state != ComponentConfigurationDTO.SATISFIED) {
                    bad.add(d.name + " state " + c.state + (c.failure == null ? "" : ": " + c.failure));
                }
            }
        }
        return bad;
    }

    @Test
    public void api() throws Exception {
        installAlone("doppel-api");
    }

    @Test
    public void json() throws Exception {
        installAlone("doppel-json");
    }

    @Test
    public void storage() throws Exception {
        installAlone("doppel-storage");
    }

    @Test
    public void volume() throws Exception {
        installAlone("doppel-volume");
    }

    @Test
    public void journal() throws Exception {
        installAlone("doppel-journal");
    }

    @Test
    public void engine() throws Exception {
        installAlone("doppel-engine");
    }

    @Test
    public void nbd() throws Exception {
        installAlone("doppel-nbd");
    }

    @Test
    public void bitmap() throws Exception {
        installAlone("doppel-bitmap");
    }

    @Test
    public void transport() throws Exception {
        installAlone("doppel-transport");
    }

    @Test
    public void copySync() throws Exception {
        installAlone("doppel-copy-sync");
    }

    @Test
    public void copyAsync() throws Exception {
        installAlone("doppel-copy-async");
    }

    @Test
    public void failover() throws Exception {
        installAlone("doppel-failover");
    }

    @Test
    public void appliance() throws Exception {
        installAlone("doppel");
    }
}
