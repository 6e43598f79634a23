package io.doppel.itests.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PortAllocatorTest {

    @TempDir
    Path locks;

    @Test
    void reservesDistinctFreePortsBelowTheEphemeralRange() {
        try (PortAllocator allocator = new PortAllocator(locks, new Random(42))) {
            Set<Integer> ports = new HashSet<>();
            for (int i = 0; i < 4; i++) {
                Ports appliance = allocator.reserveAppliancePorts();
                ports.add(appliance.ssh());
                ports.add(appliance.nbd());
                ports.add(appliance.transport());
            }

            assertThat(ports).hasSize(12).allMatch(port -> port >= PortAllocator.LOWEST && port <= PortAllocator.HIGHEST);
            assertThat(ports).allMatch(PortAllocator::isFree);
            assertThat(allocator.reserved()).isEqualTo(ports);
        }
    }

    @Test
    void skipsAPortSomeoneListensOn() throws Exception {
        // the same seed draws the same first port; occupy it and the allocator must pick another
        int first;
        try (PortAllocator probe = new PortAllocator(locks.resolve("probe"), new Random(7))) {
            first = probe.reserve();
        }
        try (ServerSocket occupied = new ServerSocket()) {
            occupied.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), first));
            assertThat(PortAllocator.isFree(first)).isFalse();

            try (PortAllocator allocator = new PortAllocator(locks, new Random(7))) {
                assertThat(allocator.reserve()).isNotEqualTo(first);
            }
        }
    }

    @Test
    void twoAllocatorsSharingLocksNeverHandOutTheSamePort() {
        // same seed: both draw the same sequence, so only the locks keep them apart
        try (PortAllocator one = new PortAllocator(locks, new Random(3));
             PortAllocator two = new PortAllocator(locks, new Random(3))) {
            Set<Integer> fromOne = new HashSet<>();
            Set<Integer> fromTwo = new HashSet<>();
            for (int i = 0; i < 5; i++) {
                fromOne.add(one.reserve());
                fromTwo.add(two.reserve());
            }

            assertThat(fromOne).doesNotContainAnyElementsOf(fromTwo);
        }
    }

    @Test
    void closingReleasesThePortsForOthers() {
        int port;
        try (PortAllocator one = new PortAllocator(locks, new Random(11))) {
            port = one.reserve();
        }
        try (PortAllocator two = new PortAllocator(locks, new Random(11))) {
            assertThat(two.reserve()).isEqualTo(port);
        }
    }

    @Test
    void aClosedAllocatorRefuses() {
        PortAllocator allocator = new PortAllocator(locks, new Random(1));
        allocator.close();

        assertThatThrownBy(allocator::reserve).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void portsMustDiffer() {
        assertThatThrownBy(() -> new Ports(20001, 20001, 20002))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("20001");
        assertThatThrownBy(() -> new Ports(0, 20001, 20002))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("ssh port 0");
    }
}
