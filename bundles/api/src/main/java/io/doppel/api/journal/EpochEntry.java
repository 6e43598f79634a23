package io.doppel.api.journal;

/**
 * One reign in a group's history.
 *
 * @param epoch            the epoch's number
 * @param siteId           the site that opened it (breaks ties between equal numbers)
 * @param firstSeq         the first seq written in it
 * @param previousLastSeq  the last seq of the previous epoch as the opening site saw it
 */
public record EpochEntry(long epoch, String siteId, long firstSeq, long previousLastSeq) {
}
