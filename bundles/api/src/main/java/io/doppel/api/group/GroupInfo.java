package io.doppel.api.group;

import java.util.List;

import io.doppel.api.journal.Position;

/**
 * A consistency group: volumes whose writes share one journal and one update sequence.
 *
 * @param name          unique name
 * @param id            site-wide number stamped in journal records
 * @param volumes       member volumes' names
 * @param state         what the group is doing: "serving", "holding-io" (a service it needs is
 *                      absent), "stalled" (a volume write failed; retried), "recovering", "closed"
 * @param detail        why, when the state is not "serving"
 * @param head          last journaled position
 * @param applied       every record through here reached the volumes
 * @param checkpoint    volumes durable through here
 * @param journalCapacity the journal's byte limit
 * @param journalOnly   the group keeps a journal but no volume data: the middle site of a
 *                      cascade that relays its source's records and passes (its volumes are
 *                      names and sizes only, never written)
 */
public record GroupInfo(String name, int id, List<String> volumes, String state, String detail,
                        Position head, Position applied, Position checkpoint, long journalCapacity,
                        boolean journalOnly) {

    /** A group with volumes. */
    public GroupInfo(String name, int id, List<String> volumes, String state, String detail, Position head,
            Position applied, Position checkpoint, long journalCapacity) {
        this(name, id, volumes, state, detail, head, applied, checkpoint, journalCapacity, false);
    }
}
