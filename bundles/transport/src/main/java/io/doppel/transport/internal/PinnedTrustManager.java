package io.doppel.transport.internal;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.function.Predicate;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trusts a certificate only by its pinned SHA-256 fingerprint; there are no certificate
 * authorities. The server side accepts the certificate of any registered peer (the HELLO that
 * follows names which one), a dialling side only that of the peer it dialled.
 */
final class PinnedTrustManager extends X509ExtendedTrustManager {

    private static final Logger LOG = LoggerFactory.getLogger(PinnedTrustManager.class);
    private static final X509Certificate[] NONE = new X509Certificate[0];

    /** A certificate was refused; the refusal is logged already. */
    static final class RefusedCertificateException extends CertificateException {
        private static final long serialVersionUID = 1L;

        RefusedCertificateException(String message) {
            super(message);
        }
    }

    private final Predicate<String> known;
    private final String peerName;
    private final String peerAddress;
    private final String pinned;

    private PinnedTrustManager(Predicate<String> known, String peerName, String peerAddress, String pinned) {
        this.known = known;
        this.peerName = peerName;
        this.peerAddress = peerAddress;
        this.pinned = pinned;
    }

    /** For accepted connections: trusts the fingerprints for which {@code known} holds. */
    static PinnedTrustManager forServer(Predicate<String> known) {
        return new PinnedTrustManager(known, null, null, null);
    }

    /**
     * For connections dialled to {@code peerName}: trusts its pinned fingerprint only.
     *
     * @param address the address dialled (the client's engine is made without one)
     */
    static PinnedTrustManager forPeer(String peerName, String address, String pinned) {
        return new PinnedTrustManager(pinned::equals, peerName, address, pinned);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        check(chain, engine == null ? "unknown address" : engine.getPeerHost() + ":" + engine.getPeerPort());
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        check(chain, peerAddress != null ? peerAddress
                : engine == null ? "unknown address" : engine.getPeerHost() + ":" + engine.getPeerPort());
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        check(chain, socket == null ? "unknown address" : String.valueOf(socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        check(chain, socket == null ? "unknown address" : String.valueOf(socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, "unknown address");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, "unknown address");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return NONE;
    }

    private void check(X509Certificate[] chain, String address) throws CertificateException {
        if (chain == null || chain.length == 0) {
            String message = "refused connection " + (peerName == null ? "from " : "to ") + address
                    + ": no certificate presented";
            LOG.warn(message);
            throw new RefusedCertificateException(message);
        }
        String fingerprint = Fingerprints.of(chain[0]);
        if (known.test(fingerprint)) {
            return;
        }
        String message = peerName == null
                ? "refused connection from " + address + ": certificate " + fingerprint + " belongs to no known peer"
                : "refused connection to peer " + peerName + " at " + address + ": its certificate " + fingerprint
                        + " is not the one pinned for " + peerName + " (" + pinned + ")";
        LOG.warn(message);
        throw new RefusedCertificateException(message);
    }
}
