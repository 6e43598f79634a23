package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.annotation.Annotation;
import java.nio.file.Path;

import io.doppel.api.journal.Journal;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.RecordKind;
import io.doppel.storage.internal.FileStorage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JournalServiceImplTest {

    @TempDir
    Path tmp;

    private JournalServiceImpl.Config config(String directory, String segmentBytes) {
        return new JournalServiceImpl.Config() {
            @Override
            public Class<? extends Annotation> annotationType() {
                return JournalServiceImpl.Config.class;
            }

            @Override
            public String directory() {
                return directory;
            }

            @Override
            public String segmentBytes() {
                return segmentBytes;
            }

            @Override
            public String capacityBytes() {
                return "1G";
            }

            @Override
            public String activityLogExtents() {
                return "1024";
            }

            @Override
            public String activityExtentBytes() {
                return "4M";
            }
        };
    }

    @Test
    void deactivationClosesTheJournalsCleanly() throws Exception {
        JournalServiceImpl service = new JournalServiceImpl(new FileStorage(), config(tmp.toString(), "bogus"));
        Journal j = service.open(new JournalOptions("g1", 1, 0));
        assertThatThrownBy(() -> service.open(new JournalOptions("g1", 1, 0))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("g1");
        j.append(RecordKind.FLUSH, 0, 0, 0, null);
        j.checkpoint(j.head());
        assertThat(service.status()).hasSize(1);
        assertThat(service.list()).containsExactly("g1");
        service.modified(config(tmp.toString(), "1"));
        service.deactivate();
        assertThat(service.status()).isEmpty();

        JournalServiceImpl next = new JournalServiceImpl(new FileStorage(), config(tmp.toString(), "64M"));
        try (Journal again = next.open(new JournalOptions("g1", 1, 0))) {
            assertThat(again.recovery().cleanShutdown()).isTrue();
            assertThat(again.head().seq()).isEqualTo(1);
        } finally {
            next.deactivate();
        }
    }
}
