package io.doppel.api.failover;

import java.io.IOException;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Taking a group over at its secondary, and the failover state of groups. User mistakes raise
 * {@link IllegalArgumentException}, refusals {@link IllegalStateException}, each naming why.
 */
@ProviderType
public interface FailoverService {

    /**
     * This site, the group's secondary, becomes its primary: it applies the records it holds,
     * opens a new epoch above every one it knows, and takes host writes; what it writes from
     * then on is kept for the former primary, which is copied only those blocks (and its own
     * divergent ones) when it returns. Refused for an Outdated or inconsistent copy unless
     * {@code force}, and when the failover policy refuses.
     */
    FailoverStatus takeover(String group, boolean force) throws IOException;

    /**
     * A planned switch of the primary role from this site to its peer: host writes here are
     * refused from now on (those in flight complete here), the peer applies every record and
     * becomes the primary in a new epoch, and this site its secondary. Nothing is copied but the
     * records the peer lacked. Refused unless the peer is caught up.
     */
    FailoverStatus failback(String group) throws IOException, InterruptedException;

    /**
     * Ends a split-brain: the side {@code keepSite} (this site's name or id, or the peer's
     * name) keeps its writes; the other side keeps its divergent blocks in a
     * {@code diverged-EPOCH-SEQ} snapshot and gets the kept side's by one pass. Keeping this
     * site's side while it is the secondary makes it the primary.
     */
    FailoverStatus resolve(String group, String keepSite) throws IOException;

    /** Every paired group's failover state here. */
    List<FailoverStatus> failoverStatus();
}
