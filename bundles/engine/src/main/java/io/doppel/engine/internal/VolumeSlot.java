package io.doppel.engine.internal;

import java.util.concurrent.atomic.AtomicInteger;

import io.doppel.api.volume.Volume;

/**
 * A volume as the write path sees it. The slot outlives service swaps: its {@link #volume}
 * handle is replaced when the volume service is updated, while devices opened on the slot
 * keep working.
 */
final class VolumeSlot {

    final String name;
    final int id;
    final Group group;
    final BlockLocks locks = new BlockLocks();
    /** Null while the volume service is absent. */
    volatile Volume volume;
    volatile long size;
    /** Open devices that may write: a rollback is refused while there are any. */
    final AtomicInteger writers = new AtomicInteger();
    final AtomicInteger devices = new AtomicInteger();

    VolumeSlot(String name, int id, Group group, long size) {
        this.name = name;
        this.id = id;
        this.group = group;
        this.size = size;
    }

    @Override
    public String toString() {
        return name;
    }
}
