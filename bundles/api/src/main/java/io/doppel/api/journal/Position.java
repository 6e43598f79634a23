package io.doppel.api.journal;

/**
 * Where a record stands in a group's history: the epoch of the primary that wrote it and
 * its update number. Positions compare by epoch, then seq; seq keeps rising across epochs.
 */
public record Position(long epoch, long seq) implements Comparable<Position> {

    /** Before the first record. */
    public static final Position ZERO = new Position(0, 0);

    public Position {
        if (epoch < 0 || seq < 0) {
            throw new IllegalArgumentException("position must not be negative: " + epoch + "/" + seq);
        }
    }

    @Override
    public int compareTo(Position o) {
        int c = Long.compare(epoch, o.epoch);
        return c != 0 ? c : Long.compare(seq, o.seq);
    }

    public boolean isAfter(Position o) {
        return compareTo(o) > 0;
    }

    public boolean isBefore(Position o) {
        return compareTo(o) < 0;
    }

    public static Position max(Position a, Position b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    public static Position min(Position a, Position b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** {@code epoch/seq}, the form commands print and parse. */
    @Override
    public String toString() {
        return epoch + "/" + seq;
    }

    public static Position parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("position '" + text + "' is not of the form EPOCH/SEQ");
        }
        try {
            return new Position(Long.parseLong(text.substring(0, slash)), Long.parseLong(text.substring(slash + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("position '" + text + "' is not of the form EPOCH/SEQ", e);
        }
    }
}
