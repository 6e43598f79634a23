package io.doppel.api.pair;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Pairs of this site. Created on the primary; the secondary learns of the pair when the
 * primary first reaches it, and creates (or checks) the target group and volumes then.
 * User mistakes raise {@link IllegalArgumentException}, refusals in the current state
 * {@link IllegalStateException}, with a message for the operator.
 */
@ProviderType
public interface PairService {

    /**
     * @param mode           "sync" or "async"
     * @param lostPeerPolicy for sync: "continue" (mark the peer Outdated, then track what it lacks)
     *                       or "suspend-io" (hold host writes until the peer is back)
     */
    PairInfo create(String group, String peer, String mode, String lostPeerPolicy) throws IOException;

    /**
     * Switches a live pair's copy mode, while hosts write. The session in the old mode ends and
     * the next opens in the new one from what the peer holds, without a resync: to async, writes
     * stop waiting for the peer at once; to sync, the pair is catching-up (the peer marked
     * Outdated while it lacks acknowledged writes) and holds host writes only once the peer has
     * journaled the head.
     *
     * @param mode "sync" or "async"
     * @return the pair's status right after the switch
     */
    PairInfo changeMode(String group, String peer, String mode) throws IOException;

    /** Stops transferring (records are kept for the peer, or folded into its map). */
    void suspend(String group, String peer) throws IOException;

    void resume(String group, String peer) throws IOException;

    /** Ends the pair at both sites (the peer's volumes are kept). */
    void delete(String group, String peer) throws IOException;

    /**
     * Ends this site's side of a pair whose primary is {@code peer}, without telling it: for a
     * primary that is gone, or that deleted the pair while this site was unreachable. The
     * group keeps its volumes and takes host writes again. A primary that still has the pair
     * makes the group its target again at its next session.
     */
    void deleteTarget(String group, String peer) throws IOException;

    List<PairInfo> pairs();

    /** The copy modes bound at this site, with the bundle and version that provide each. */
    List<io.doppel.api.copy.CopyModeInfo> copyModes();

    Optional<PairInfo> pair(String group, String peer);
}
