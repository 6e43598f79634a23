package io.doppel.itests.harness;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** Text helpers shared by the harness: durations, output sections, terminal escapes. */
final class Text {

    /** ANSI colour and cursor sequences; Karaf colours error messages even without a terminal. */
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001B\\[[0-9;?]*[A-Za-z]");

    private Text() {
    }

    static String seconds(Duration duration) {
        return String.format(Locale.ROOT, "%.1f s", duration.toMillis() / 1000.0);
    }

    static String stripAnsi(String text) {
        return ANSI_ESCAPE.matcher(text).replaceAll("");
    }

    static void appendSection(StringBuilder text, String title, String body) {
        if (body == null || body.isBlank()) {
            return;
        }
        text.append("\n--- ").append(title).append('\n').append(body.stripTrailing());
    }

    static void appendSection(StringBuilder text, String title, List<String> lines) {
        appendSection(text, title, String.join("\n", lines));
    }
}
