package io.doppel.api.units;

import java.util.Locale;

/**
 * A number of bytes as operators write it: {@code 4096}, {@code 512K}, {@code 1G}, {@code 1.5T}
 * (binary multiples; an optional trailing {@code B} or {@code iB} is accepted).
 */
public record ByteSize(long bytes) {

    private static final String UNITS = "KMGTPE";

    public ByteSize {
        if (bytes < 0) {
            throw new IllegalArgumentException("a size must not be negative: " + bytes);
        }
    }

    /** @throws IllegalArgumentException naming the text when it is not a size */
    public static ByteSize parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("a size is required, e.g. 1G or 4096");
        }
        String t = text.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("IB")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("B")) {
            t = t.substring(0, t.length() - 1);
        }
        long multiplier = 1;
        if (!t.isEmpty()) {
            int unit = UNITS.indexOf(t.charAt(t.length() - 1));
            if (unit >= 0) {
                multiplier = 1L << (10 * (unit + 1));
                t = t.substring(0, t.length() - 1);
            }
        }
        try {
            if (t.contains(".")) {
                double d = Double.parseDouble(t);
                double v = d * multiplier;
                if (d < 0 || v > Long.MAX_VALUE || v != Math.floor(v)) {
                    throw new NumberFormatException();
                }
                return new ByteSize((long) v);
            }
            long n = Long.parseLong(t);
            if (n < 0) {
                throw new NumberFormatException();
            }
            return new ByteSize(Math.multiplyExact(n, multiplier));
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is not a size; write it like 4096, 512K, 1G or 2T", e);
        }
    }

    /** Short human form: {@code 1 GiB}, {@code 1.5 MiB}, {@code 512 B}. */
    public static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = (63 - Long.numberOfLeadingZeros(bytes)) / 10;
        double v = bytes / (double) (1L << (10 * unit));
        String num = v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.1f", v);
        return num + " " + UNITS.charAt(unit - 1) + "iB";
    }

    @Override
    public String toString() {
        return format(bytes);
    }
}
