package io.doppel.transport.internal;

/**
 * This site as peers see it.
 *
 * @param id            the site id (the engine's, else the certificate's CN)
 * @param name          the site name
 * @param fingerprint   SHA-256 of this site's certificate; peers pin it with doppel:peer-add
 * @param listenAddress host:port peers dial
 * @param listening     whether the server socket is bound
 */
public record LocalSite(String id, String name, String fingerprint, String listenAddress, boolean listening) {
}
