package io.doppel.api.journal;

import java.util.List;
import java.util.Optional;

/**
 * What opening a journal found.
 *
 * @param cleanShutdown  true when the journal was closed with everything checkpointed
 * @param checkpoint     volumes were durable through this position
 * @param head           last intact record
 * @param recordsToRedo  records after the checkpoint, which the engine re-applies
 * @param activityLog    extents hot at the time of the crash (empty after a clean shutdown)
 * @param tailDamage     what was cut, if anything
 */
public record RecoveryReport(boolean cleanShutdown, Position checkpoint, Position head, long recordsToRedo,
                             List<ActivityExtent> activityLog, Optional<TailDamage> tailDamage) {
}
