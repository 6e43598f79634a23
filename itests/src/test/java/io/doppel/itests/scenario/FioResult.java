package io.doppel.itests.scenario;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.doppel.itests.harness.ProcessResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How one fio run ended: the process (exit code, console output) and the job's JSON report
 * ({@code --output-format=json}), if fio wrote one.
 *
 * @param process the fio process
 * @param report  the report file
 * @param job     {@code jobs[0]} of the report; a missing node when there is no report
 */
record FioResult(ProcessResult process, Path report, JsonNode job) {

    private static final ObjectMapper JSON = new ObjectMapper();

    static FioResult of(ProcessResult process, Path report) {
        return new FioResult(process, report, readJob(report));
    }

    private static JsonNode readJob(Path report) {
        try {
            if (!Files.exists(report)) {
                return JSON.missingNode();
            }
            String text = Files.readString(report);
            // fio may print notes before the JSON document
            int start = text.indexOf("{\n");
            if (start < 0) {
                return JSON.missingNode();
            }
            return JSON.readTree(text.substring(start)).path("jobs").path(0);
        } catch (IOException e) {
            return JSON.missingNode();
        }
    }

    int exitCode() {
        return process.exitCode();
    }

    /** The job's error number (0 when every I/O succeeded); -1 without a report. */
    int jobError() {
        return job.path("error").asInt(-1);
    }

    /** Reads that completed (for a verify run: blocks checked). */
    long reads() {
        return job.path("read").path("total_ios").asLong(-1);
    }

    /** Writes that completed. */
    long writes() {
        return job.path("write").path("total_ios").asLong(-1);
    }

    /** The longest completion latency of a write, in nanoseconds. */
    long maxWriteLatencyNanos() {
        return job.path("write").path("clat_ns").path("max").asLong(-1);
    }

    /** Exit code, job error, counts and the console output, for assertion messages. */
    String describe() {
        String reportText;
        try {
            reportText = Files.exists(report) ? Files.readString(report) : "(no report " + report + ")";
        } catch (IOException e) {
            reportText = "(cannot read " + report + ": " + e.getMessage() + ")";
        }
        if (reportText.length() > 4000) {
            reportText = reportText.substring(0, 4000) + "\n...";
        }
        return process.describe() + "\n--- job error " + jobError() + ", reads " + reads() + ", writes " + writes()
                + "\n--- report\n" + reportText;
    }

    /** fio's per-I/O latency log ({@code --write_lat_log}): "completion time (ms since 1970 with --log_unix_epoch), latency (ns), ...". */
    static java.util.List<long[]> latencyLog(java.nio.file.Path log) {
        java.util.List<long[]> entries = new java.util.ArrayList<>();
        try {
            for (String line : java.nio.file.Files.readAllLines(log)) {
                String[] fields = line.split(",\\s*");
                if (fields.length >= 2) {
                    entries.add(new long[] {Long.parseLong(fields[0].trim()), Long.parseLong(fields[1].trim())});
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("Cannot read fio's latency log " + log, e);
        }
        return entries;
    }
}
