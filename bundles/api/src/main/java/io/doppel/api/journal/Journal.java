package io.doppel.api.journal;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A consistency group's write-ahead journal: segmented, preallocated files of records,
 * each with a header and data CRC32C. Appends are serialized internally; forces are grouped
 * (one fsync for every waiter it covers).
 *
 * <p>Retention: a record is kept until a checkpoint covers it (the engine forced the
 * volumes) and every cursor has passed it, or an overflow handler folded it.
 */
@ProviderType
public interface Journal extends Closeable {

    String group();

    int groupId();

    /** What opening found; the engine redoes {@code recordsToRedo} records after {@code checkpoint}. */
    RecoveryReport recovery();

    /** The epoch new records are stamped with. */
    long epoch();

    /** Opens a new epoch (durably recorded in the history) for the records that follow. */
    void beginEpoch(long epoch, String siteId) throws IOException;

    /** Every epoch of this group, oldest first. */
    List<EpochEntry> history();

    /**
     * Assigns the next seq and writes the record into the current segment (a real file
     * write, not a buffer). The data is not durable until {@link #force}. When the journal is
     * full, asks the {@link ReclaimHandler} and cursors' overflow handlers for space first.
     *
     * @param data the bytes of a WRITE or MARKER (read from position to limit, not consumed); null otherwise
     * @return the record's position
     * @throws JournalFullException when no space can be freed
     */
    Position append(RecordKind kind, int volumeId, long offset, long length, ByteBuffer data) throws IOException;

    /**
     * Appends a record written by another site (a replication source), keeping its position
     * and time: the copy's journal carries the primary's update numbers. Its seq must follow
     * the head's ({@code head().seq() + 1}) and its epoch must not be lower; a higher epoch is
     * added to the history. Space is handled as for {@link #append}.
     *
     * @throws IllegalArgumentException naming both positions when the record does not follow the head
     */
    Position appendReplicated(JournalRecord record) throws IOException;

    /**
     * Starts the journal over at {@code newHead}: the records held are dropped and the next
     * record appended has seq {@code newHead.seq() + 1}. A copy does this when a full or
     * map-based resync makes its old records meaningless.
     *
     * @throws IllegalStateException unless every record is applied and checkpointed
     *         ({@code checkpoint().equals(head())}) and no cursor still needs a record
     */
    void rebase(Position newHead) throws IOException;

    /**
     * As {@link #rebase(Position)}, and the journal takes {@code history} (the new primary's
     * epochs through {@code newHead}) as its own: a copy that failed back drops the epochs of the
     * history it left, so that a later fork point is computed from the one it now follows.
     */
    void rebase(Position newHead, List<EpochEntry> history) throws IOException;

    /** Last appended position. */
    Position head();

    /** Last durable position. */
    Position durable();

    /** Returns once every record through {@code upTo} is durable; waiters share fsyncs. */
    void force(Position upTo) throws IOException;

    /** Volumes are durable through this position (recorded by the last {@link #checkpoint}). */
    Position checkpoint();

    /**
     * Records that the volumes are durable through {@code upTo}: redo after a crash starts
     * there, and records up to it may be released once every cursor passed them.
     */
    void checkpoint(Position upTo) throws IOException;

    /** Oldest position a reader may ask for records after. */
    Position retainedStart();

    /**
     * Reads records after {@code after}, up to and including {@code upTo}.
     *
     * @throws JournalGapException if records after {@code after} were already released
     */
    JournalReader read(Position after, Position upTo) throws IOException;

    ActivityLog activityLog();

    /**
     * Opens (creating if new) the named consumer's cursor.
     *
     * @param overflow what to do when the journal is full and this cursor holds it back;
     *                 null means the journal keeps the records (and appends fail when full)
     */
    JournalCursor cursor(String consumer, OverflowHandler overflow) throws IOException;

    /** Installs who frees space when the journal is full (the engine's checkpoint). */
    void reclaimHandler(ReclaimHandler handler);

    JournalStatus status();

    /** Forces and closes. Records a clean shutdown when the checkpoint has reached the head. */
    @Override
    void close() throws IOException;
}
