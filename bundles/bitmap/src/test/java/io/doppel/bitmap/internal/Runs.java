package io.doppel.bitmap.internal;

import java.util.ArrayList;
import java.util.List;

import io.doppel.api.bitmap.DifferenceMap;

/** A run of blocks as the tests compare them. */
record Runs(long first, long count) {

    static List<Runs> of(DifferenceMap map, int volumeId) {
        List<Runs> out = new ArrayList<>();
        map.forEachRun(volumeId, (first, count) -> out.add(new Runs(first, count)));
        return out;
    }
}
