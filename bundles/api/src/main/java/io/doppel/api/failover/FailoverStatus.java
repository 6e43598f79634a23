package io.doppel.api.failover;

import java.util.List;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.Position;

/**
 * A group's failover state at this site.
 *
 * @param group        the group
 * @param role         "primary", "secondary" or "none" (not paired)
 * @param peer         the other site of its pair ("" when none)
 * @param pairState    the pair's state ("in-sync", "diverged", "split-brain", ...)
 * @param detail       why, for states that need one
 * @param epoch        the epoch of this site's last record, and who opened it
 * @param reignSite    the site that opened that epoch
 * @param head         this site's journal head
 * @param outdated     as a secondary: it lacks writes the primary acknowledged; as a primary:
 *                     its peer does
 * @param consistent   as a secondary: its volumes are the image of a prefix of the primary's writes
 * @param history      the group's epochs, oldest first
 * @param policy       the failover policy bound here ("" when none)
 * @param lastDecision the last takeover, demotion or refusal and why
 * @param fork         the last fork point a returning site reported (null when none)
 * @param divergentBlocks blocks that site held differently after the fork (0 when none)
 */
public record FailoverStatus(String group, String role, String peer, String pairState, String detail, long epoch,
                             String reignSite, Position head, boolean outdated, boolean consistent,
                             List<EpochEntry> history, String policy, String lastDecision, Position fork,
                             long divergentBlocks) {
}
