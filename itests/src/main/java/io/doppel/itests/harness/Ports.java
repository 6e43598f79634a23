package io.doppel.itests.harness;

/**
 * The TCP ports of one appliance, all on 127.0.0.1.
 *
 * @param ssh       Karaf's SSH console ({@code org.apache.karaf.shell} {@code sshPort})
 * @param nbd       the NBD server ({@code io.doppel.nbd} {@code port})
 * @param transport the site-to-site transport's listening port
 */
public record Ports(int ssh, int nbd, int transport) {

    public Ports {
        check("ssh", ssh);
        check("nbd", nbd);
        check("transport", transport);
        if (ssh == nbd || ssh == transport || nbd == transport) {
            throw new IllegalArgumentException("Ports must differ: ssh " + ssh + ", nbd " + nbd
                    + ", transport " + transport);
        }
    }

    private static void check(String name, int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("The " + name + " port " + port + " is not in 1..65535");
        }
    }
}
