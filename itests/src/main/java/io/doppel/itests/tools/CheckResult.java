package io.doppel.itests.tools;

import java.util.List;

/**
 * The verdict of a {@link ReplicaChecker} check.
 *
 * @param check which check ran, e.g. {@code sync}
 * @param ok whether the replica passed
 * @param blocksChecked blocks looked at over all volumes
 * @param violations the first {@value #MAX_LINES} violations, each naming volume, block, the
 *        write expected and what was found
 * @param violationCount all violations, including those not listed
 */
public record CheckResult(String check, boolean ok, long blocksChecked, List<String> violations, long violationCount) {

    /** Violations listed at most; the rest are only counted. */
    public static final int MAX_LINES = 20;

    public CheckResult {
        violations = List.copyOf(violations);
    }

    /** Throws an {@link AssertionError} with {@link #describe()} unless the replica passed. */
    public CheckResult requireOk() {
        if (!ok) {
            throw new AssertionError(describe());
        }
        return this;
    }

    /** A summary line, then one line per listed violation, then how many more there were. */
    public String describe() {
        StringBuilder text = new StringBuilder();
        text.append(check).append(" check ").append(ok ? "passed" : "FAILED").append(": ").append(blocksChecked)
                .append(" blocks checked, ").append(violationCount).append(" violation(s)");
        for (String violation : violations) {
            text.append("\n  ").append(violation);
        }
        if (violationCount > violations.size()) {
            text.append("\n  ... and ").append(violationCount - violations.size()).append(" more");
        }
        return text.toString();
    }

    @Override
    public String toString() {
        return describe();
    }
}
