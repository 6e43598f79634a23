package io.doppel.api.journal;

/**
 * What recovery cut from the end of a journal.
 *
 * @param segment        the segment file where the damage starts
 * @param fileOffset     byte offset of the first bad record in it
 * @param reason         what was wrong, e.g. "header CRC32C mismatch"
 * @param lastGood       position of the last intact record kept
 * @param bytesCut       bytes dropped from the journal
 * @param intactAfterCut intact-looking records found beyond the damage (dropped too, since
 *                       records take effect only in seq order)
 */
public record TailDamage(String segment, long fileOffset, String reason, Position lastGood,
                         long bytesCut, int intactAfterCut) {
}
