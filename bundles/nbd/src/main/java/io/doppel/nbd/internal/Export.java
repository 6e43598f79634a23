package io.doppel.nbd.internal;

import java.util.regex.Pattern;

/**
 * One NBD export: a name clients ask for, mapped to a volume or to one of its snapshots.
 *
 * @param name        what clients pass in NBD_OPT_GO / NBD_OPT_EXPORT_NAME
 * @param volume      the volume served
 * @param snapshot    a snapshot of that volume, or {@code null} for the live volume
 * @param readOnly    refuse writes; always true for a snapshot
 * @param description free text shown by NBD_OPT_LIST and NBD_INFO_DESCRIPTION ("" for none)
 */
public record Export(String name, String volume, String snapshot, boolean readOnly, String description) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    static final int MAX_DESCRIPTION = 1024;

    public Export {
        checkName("export name", name);
        checkName("volume name", volume);
        if (snapshot != null) {
            checkName("snapshot name", snapshot);
            readOnly = true;
        }
        description = description == null ? "" : description;
        if (description.length() > MAX_DESCRIPTION) {
            throw new IllegalArgumentException("description of export " + name + " is longer than "
                    + MAX_DESCRIPTION + " characters");
        }
        if (description.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("description of export " + name + " contains a NUL character");
        }
    }

    /** "read-only" or "read-write". */
    public String mode() {
        return readOnly ? "read-only" : "read-write";
    }

    /** "volume" or "volume@snapshot", as in {@link io.doppel.api.device.BlockDevice#name()}. */
    public String target() {
        return snapshot == null ? volume : volume + "@" + snapshot;
    }

    static void checkName(String what, String value) {
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException(what + " is missing");
        }
        if (!NAME.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " '" + value + "' is invalid: use 1 to 64 letters, digits,"
                    + " '.', '_' or '-', starting with a letter or digit");
        }
    }
}
