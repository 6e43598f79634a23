package io.doppel.api.pair;

import java.time.Instant;

import io.doppel.api.journal.Position;

/**
 * A pair as one site sees it.
 *
 * @param id             the pair's id (the same at both sites)
 * @param group          the group (same name at both sites)
 * @param peer           the other site's peer name here
 * @param role           "primary" (source) or "secondary" (target)
 * @param mode           copy mode name ("sync", "async")
 * @param lostPeerPolicy for sync pairs: "continue" or "suspend-io"
 * @param state          "initial-copy", "resyncing", "catching-up", "in-sync" (sync), "replicating" (async),
 *                       "disconnected", "suspended", "waiting-for-mode", "failed"
 * @param detail         why, when the state is not the normal one
 * @param outdated       the secondary lacks writes the primary acknowledged (durably recorded)
 * @param consistent     the secondary's volumes are the image of a prefix of the primary's writes
 * @param head           the primary's journal head (as last known)
 * @param sent           last record sent to (or pulled by) the secondary
 * @param journaled      last record in the secondary's journal
 * @param durable        last record durable in the secondary's journal
 * @param applied        last record applied to the secondary's volumes
 * @param lagRecords     records the secondary's journal lacks
 * @param lagBytes       their bytes
 * @param lagSeconds     age of the oldest record the secondary lacks (0 when none)
 * @param bytesPerSecond recent transfer rate
 * @param resyncBlocks   blocks of the running (or last) resync pass
 * @param resyncDone     of those, blocks copied
 * @param mapBlocks      blocks in the difference map
 * @param pullDelayMillis for pulled modes, the current interval between pulls
 * @param pullReason     and why
 * @param since          when the state last changed
 */
public record PairInfo(String id, String group, String peer, String role, String mode, String lostPeerPolicy,
                       String state, String detail, boolean outdated, boolean consistent, Position head, Position sent,
                       Position journaled, Position durable, Position applied, long lagRecords, long lagBytes,
                       double lagSeconds, double bytesPerSecond, long resyncBlocks, long resyncDone, long mapBlocks,
                       long pullDelayMillis, String pullReason, Instant since) {
}
