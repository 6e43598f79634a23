package io.doppel.api.journal;

/**
 * An extent of a volume in the activity log: a volume block inside it may be newer than the
 * durable journal, so after a crash the whole extent counts as changed for every peer.
 *
 * @param volumeId the volume's id
 * @param index    extent number: bytes [index × size, (index+1) × size)
 */
public record ActivityExtent(int volumeId, long index) {
}
