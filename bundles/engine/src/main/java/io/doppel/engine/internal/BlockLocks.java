package io.doppel.engine.internal;

import java.util.concurrent.locks.ReentrantLock;

import io.doppel.api.volume.VolumeService;

/**
 * Per-block locks of one volume, striped: block b maps to stripe b mod N. A request locks
 * the stripes of every block it touches in ascending stripe order (no deadlock), holds them
 * from seq assignment to the volume write, and so overlapping writes from any connection
 * reach the volume in seq order.
 */
final class BlockLocks {

    static final int STRIPES = 1024;

    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];

    BlockLocks() {
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /** The stripes covering [offset, offset+length), as [first, count) in stripe space. */
    private static long firstBlock(long offset) {
        return offset / VolumeService.BLOCK_SIZE;
    }

    private static long blockCount(long offset, long length) {
        if (length <= 0) {
            return 1;
        }
        return (offset + length - 1) / VolumeService.BLOCK_SIZE - firstBlock(offset) + 1;
    }

    void lock(long offset, long length) {
        long first = firstBlock(offset);
        long count = blockCount(offset, length);
        if (count >= STRIPES) {
            lockAll();
            return;
        }
        int start = (int) (first % STRIPES);
        int end = start + (int) count; // exclusive, may wrap
        if (end <= STRIPES) {
            for (int i = start; i < end; i++) {
                stripes[i].lock();
            }
        } else {
            // Wrapped range: lock the low part first to keep ascending order.
            for (int i = 0; i < end - STRIPES; i++) {
                stripes[i].lock();
            }
            for (int i = start; i < STRIPES; i++) {
                stripes[i].lock();
            }
        }
    }

    void unlock(long offset, long length) {
        long first = firstBlock(offset);
        long count = blockCount(offset, length);
        if (count >= STRIPES) {
            unlockAll();
            return;
        }
        int start = (int) (first % STRIPES);
        int end = start + (int) count;
        if (end <= STRIPES) {
            for (int i = end - 1; i >= start; i--) {
                stripes[i].unlock();
            }
        } else {
            for (int i = STRIPES - 1; i >= start; i--) {
                stripes[i].unlock();
            }
            for (int i = end - STRIPES - 1; i >= 0; i--) {
                stripes[i].unlock();
            }
        }
    }

    /** Quiesces the whole volume: no write is between its seq assignment and its volume write. */
    void lockAll() {
        for (ReentrantLock l : stripes) {
            l.lock();
        }
    }

    void unlockAll() {
        for (int i = STRIPES - 1; i >= 0; i--) {
            stripes[i].unlock();
        }
    }
}
