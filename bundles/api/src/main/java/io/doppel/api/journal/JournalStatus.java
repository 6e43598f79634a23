package io.doppel.api.journal;

import java.util.List;

/**
 * A journal's state for status commands.
 *
 * @param group           group name
 * @param epoch           current epoch
 * @param head            last appended record
 * @param durable         last forced record
 * @param checkpoint      volumes durable through here
 * @param retainedStart   oldest position still readable
 * @param usedBytes       bytes of retained records
 * @param capacityBytes   limit on segment bytes
 * @param segments        segment files on disk
 * @param records         records retained
 * @param forces          fsyncs since open
 * @param forcedRecords   records made durable by those fsyncs (their ratio is the group-commit batch)
 * @param activeExtents   activity-log extents hot now
 * @param cursors         consumers' cursors
 */
public record JournalStatus(String group, long epoch, Position head, Position durable, Position checkpoint,
                            Position retainedStart, long usedBytes, long capacityBytes, int segments, long records,
                            long forces, long forcedRecords, int activeExtents, List<CursorStatus> cursors) {
}
