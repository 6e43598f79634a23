package io.doppel.volume.internal;

import java.util.regex.Pattern;

import io.doppel.api.units.ByteSize;
import io.doppel.api.volume.VolumeService;

/** The rules for names and sizes, with the messages an operator sees when one is broken. */
final class Names {

    /** 16 TiB: 2^32 blocks, so a block number fits an unsigned int (RoaringBitmap's domain). */
    static final long MAX_SIZE = 1L << 44;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private static final String RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            + " ('@' is reserved: it separates volume@snapshot in export names)";

    private Names() {
    }

    static String volume(String name) {
        return check("volume", name);
    }

    static String snapshot(String name) {
        return check("snapshot", name);
    }

    static String group(String name) {
        return check("group", name);
    }

    private static String check(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid " + what + " name " + quote(name) + ": a name is " + RULE);
        }
        return name;
    }

    /** A volume size: positive, a multiple of the block size, at most {@link #MAX_SIZE}. */
    static long size(long size) {
        if (size <= 0 || size % VolumeService.BLOCK_SIZE != 0) {
            throw new IllegalArgumentException("invalid volume size " + size + " bytes: a size must be a positive"
                    + " multiple of " + VolumeService.BLOCK_SIZE + " bytes (the block size)");
        }
        if (size > MAX_SIZE) {
            throw new IllegalArgumentException("invalid volume size " + size + " bytes (" + ByteSize.format(size)
                    + "): the largest volume is " + ByteSize.format(MAX_SIZE));
        }
        return size;
    }

    static String quote(String s) {
        return s == null ? "(none)" : "'" + s + "'";
    }
}
