package io.doppel.transport.internal;

import java.util.regex.Pattern;

/**
 * A trusted peer as the registry keeps it.
 *
 * @param name        the operator's name for it
 * @param address     host:port to dial, or "" when only the peer dials
 * @param fingerprint canonical SHA-256 fingerprint of its certificate
 * @param siteId      its site id, learned at the first handshake ("" before)
 */
record PeerEntry(String name, String address, String fingerprint, String siteId) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]{2,45}(%[A-Za-z0-9._-]+)?");

    PeerEntry withSiteId(String id) {
        return new PeerEntry(name, address, fingerprint, id);
    }

    /** The host part of the address (without IPv6 brackets). */
    String host() {
        String host = address.substring(0, address.lastIndexOf(':'));
        return host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    }

    int port() {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }

    /** @throws IllegalArgumentException naming the name and the rule */
    static String checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("peer name '" + name + "' is not valid: 1 to 64 letters, digits, '.',"
                    + " '_' or '-', starting with a letter or digit");
        }
        return name;
    }

    /**
     * Checks a dial address: host:port (an IPv6 address in brackets), or empty when the peer
     * dials this site.
     *
     * @return the address trimmed ("" for none)
     * @throws IllegalArgumentException naming the address and what is wrong with it
     */
    static String checkAddress(String address) {
        if (address == null || address.isBlank()) {
            return "";
        }
        String a = address.trim();
        int colon = a.lastIndexOf(':');
        if (colon <= 0 || colon == a.length() - 1) {
            throw new IllegalArgumentException("peer address '" + address + "' must be host:port (for example"
                    + " site-b.example.com:10810 or [fd00::2]:10810), or empty when only the peer dials");
        }
        String host = a.substring(0, colon);
        String port = a.substring(colon + 1);
        boolean hostOk = host.startsWith("[") && host.endsWith("]")
                ? IPV6.matcher(host.substring(1, host.length() - 1)).matches()
                : HOST.matcher(host).matches();
        if (!hostOk) {
            throw new IllegalArgumentException("peer address '" + address + "' has an invalid host '" + host
                    + "': use a host name, an IPv4 address or an IPv6 address in brackets");
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            p = -1;
        }
        if (p < 1 || p > 65535 || !port.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("peer address '" + address + "' has an invalid port '" + port
                    + "': it must be a number from 1 to 65535");
        }
        return a;
    }
}
