package io.doppel.api.volume;

/**
 * One data directory (disk) of the pool volumes are allocated from.
 *
 * @param path        absolute path
 * @param totalBytes  size of its file system
 * @param usableBytes bytes still free for allocation
 * @param volumes     volumes placed in it
 * @param provisioned sum of the sizes of those volumes (they are sparse, so this may exceed the space)
 */
public record PoolDirectory(String path, long totalBytes, long usableBytes, int volumes, long provisioned) {
}
