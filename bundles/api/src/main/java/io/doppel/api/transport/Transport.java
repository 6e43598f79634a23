package io.doppel.api.transport;

import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * This site's end of the site-to-site links. The site's key pair and self-signed
 * certificate are made on first start; a peer is trusted only once the operator added its
 * fingerprint, and nothing is accepted from any other.
 */
@ProviderType
public interface Transport {

    /** SHA-256 of this site's certificate, hex pairs separated by ':'. */
    String fingerprint();

    /** The address peers dial (host:port), as configured. */
    String listenAddress();

    List<PeerInfo> peers();

    Optional<PeerInfo> peer(String name);

    /**
     * Trusts a peer.
     *
     * @param address     host:port to dial, or empty when only the peer dials
     * @param fingerprint its certificate's SHA-256 (':' separators optional, case ignored)
     * @throws IllegalArgumentException for a bad name, address or fingerprint, or a name in use
     */
    PeerInfo addPeer(String name, String address, String fingerprint);

    /** Forgets a peer and closes its link. */
    void removePeer(String name);

    /**
     * The link to a peer (dialled or accepted as the transport decides).
     *
     * @throws IllegalArgumentException naming the peer when it is unknown
     */
    PeerLink link(String peer);
}
