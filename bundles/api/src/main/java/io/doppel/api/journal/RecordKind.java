package io.doppel.api.journal;

/** What a journal record does. The code is what the on-disk and wire formats store. */
public enum RecordKind {
    /** Data written at (offset, length); the record carries the bytes. */
    WRITE(1),
    /** The range was discarded; reads as zeros afterwards. No data. */
    TRIM(2),
    /** The range was zeroed. No data. */
    ZERO(3),
    /** The volume was resized to {@code offset} bytes. No data. */
    RESIZE(4),
    /** A named point (restart point, snapshot, freeze); the data is the marker's name in UTF-8. */
    MARKER(5),
    /** A host flush; marks that everything before it was made durable. No data. */
    FLUSH(6);

    private final int code;

    RecordKind(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public boolean carriesData() {
        return this == WRITE || this == MARKER;
    }

    /** @throws IllegalArgumentException naming the code when it is not a known kind */
    public static RecordKind ofCode(int code) {
        for (RecordKind k : values()) {
            if (k.code == code) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown journal record kind " + code);
    }
}
