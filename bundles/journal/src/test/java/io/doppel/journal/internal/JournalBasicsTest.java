package io.doppel.journal.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

import io.doppel.api.journal.EpochEntry;
import io.doppel.api.journal.JournalCursor;
import io.doppel.api.journal.JournalGapException;
import io.doppel.api.journal.JournalOptions;
import io.doppel.api.journal.JournalRecord;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.journal.Position;
import io.doppel.api.journal.RecordKind;
import io.doppel.testkit.SimulatedStorage;

import org.junit.jupiter.api.Test;

class JournalBasicsTest {

    private final SimulatedStorage storage = new SimulatedStorage();

    @Test
    void newJournalStartsEmptyInEpochOne() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.head()).isEqualTo(Position.ZERO);
            assertThat(j.durable()).isEqualTo(Position.ZERO);
            assertThat(j.epoch()).isEqualTo(1);
            assertThat(j.history()).containsExactly(new EpochEntry(1, "local", 1, 0));
            assertThat(j.recovery().cleanShutdown()).isTrue();
            assertThat(j.recovery().recordsToRedo()).isZero();
            assertThat(j.recovery().tailDamage()).isEmpty();
            assertThat(Fixture.readAll(j)).isEmpty();
        }
    }

    @Test
    void appendReadAndForce() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            Position p1 = j.append(RecordKind.WRITE, 3, 8192, 4096, Fixture.data(1, 4096));
            Position p2 = j.append(RecordKind.TRIM, 3, 0, 1 << 20, null);
            Position p3 = j.append(RecordKind.MARKER, 0, 0, 5, ByteBuffer.wrap("point".getBytes(StandardCharsets.UTF_8)));
            Position p4 = j.append(RecordKind.FLUSH, 0, 0, 0, null);
            Position p5 = j.append(RecordKind.WRITE, 4, 0, 13, Fixture.data(5, 13));
            assertThat(List.of(p1, p2, p3, p4, p5)).containsExactly(new Position(1, 1), new Position(1, 2), new Position(1, 3),
                    new Position(1, 4), new Position(1, 5));
            assertThat(j.head()).isEqualTo(p5);
            assertThat(j.durable()).isEqualTo(Position.ZERO);
            j.force(p3);
            assertThat(j.durable()).isGreaterThanOrEqualTo(p3);
            j.force(p5);
            assertThat(j.durable()).isEqualTo(p5);

            List<JournalRecord> all = Fixture.readAll(j);
            assertThat(all).extracting(JournalRecord::position).containsExactly(p1, p2, p3, p4, p5);
            JournalRecord w = all.get(0);
            assertThat(w.kind()).isEqualTo(RecordKind.WRITE);
            assertThat(w.groupId()).isEqualTo(Fixture.GROUP_ID);
            assertThat(w.volumeId()).isEqualTo(3);
            assertThat(w.offset()).isEqualTo(8192);
            assertThat(w.length()).isEqualTo(4096);
            assertThat(Fixture.bytes(w.data())).isEqualTo(Fixture.bytes(Fixture.data(1, 4096)));
            assertThat(w.time()).isPositive();
            assertThat(all.get(1).kind()).isEqualTo(RecordKind.TRIM);
            assertThat(all.get(1).length()).isEqualTo(1 << 20);
            assertThat(all.get(1).data().remaining()).isZero();
            assertThat(new String(Fixture.bytes(all.get(2).data()), StandardCharsets.UTF_8)).isEqualTo("point");
            assertThat(Fixture.bytes(all.get(4).data())).isEqualTo(Fixture.bytes(Fixture.data(5, 13)));

            assertThat(Fixture.read(j, p2, p4)).extracting(JournalRecord::position).containsExactly(p3, p4);
            assertThat(Fixture.read(j, p4, p4)).isEmpty();
            assertThatThrownBy(() -> j.read(Position.ZERO, new Position(1, 6))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("head");
            assertThatThrownBy(() -> j.force(new Position(1, 9))).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void theCallersBufferIsNotConsumed() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            ByteBuffer data = Fixture.data(3, 100);
            data.position(10);
            j.append(RecordKind.WRITE, 1, 0, 90, data);
            assertThat(data.position()).isEqualTo(10);
            assertThat(data.remaining()).isEqualTo(90);
        }
    }

    @Test
    void badAppendsAreRefusedWithTheReason() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            assertThatThrownBy(() -> j.append(RecordKind.WRITE, 1, 0, 100, Fixture.data(1, 50)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("length 100").hasMessageContaining("50 bytes");
            assertThatThrownBy(() -> j.append(RecordKind.WRITE, 1, 0, 0, null))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs data");
            assertThatThrownBy(() -> j.append(RecordKind.TRIM, 1, 0, 10, Fixture.data(1, 10)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("carry no data");
            int tooBig = Fixture.MAX_RECORD + 1;
            assertThatThrownBy(() -> j.append(RecordKind.WRITE, 1, 0, tooBig, Fixture.data(1, tooBig)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(String.valueOf(tooBig));
            assertThat(j.head()).isEqualTo(Position.ZERO);
        }
    }

    @Test
    void recordsCrossSegmentsAndReadBackInOrder() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 1; i <= 200; i++) {
                int size = (i * 977) % Fixture.MAX_RECORD;
                j.append(RecordKind.WRITE, i % 3, i * 4096L, size, Fixture.data(i, size));
            }
            assertThat(j.status().segments()).isGreaterThan(5);
            List<JournalRecord> all = Fixture.readAll(j);
            assertThat(all).hasSize(200);
            for (int i = 1; i <= 200; i++) {
                JournalRecord r = all.get(i - 1);
                assertThat(r.seq()).isEqualTo(i);
                assertThat(Fixture.bytes(r.data())).isEqualTo(Fixture.bytes(Fixture.data(i, (i * 977) % Fixture.MAX_RECORD)));
            }
            // start in the middle of a later segment, past the sparse index
            assertThat(Fixture.read(j, new Position(1, 150), new Position(1, 160))).extracting(JournalRecord::seq)
                    .containsExactly(151L, 152L, 153L, 154L, 155L, 156L, 157L, 158L, 159L, 160L);
        }
    }

    @Test
    void cleanCloseOpensCleanWithNothingToRedo() throws IOException {
        Position head;
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 0; i < 50; i++) {
                j.append(RecordKind.WRITE, 1, i * 4096L, 4096, Fixture.data(i, 4096));
            }
            head = j.head();
            j.checkpoint(head);
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.recovery().cleanShutdown()).isTrue();
            assertThat(j.recovery().recordsToRedo()).isZero();
            assertThat(j.recovery().head()).isEqualTo(head);
            assertThat(j.recovery().checkpoint()).isEqualTo(head);
            assertThat(j.head()).isEqualTo(head);
            assertThat(j.durable()).isEqualTo(head);
            assertThat(j.append(RecordKind.FLUSH, 0, 0, 0, null)).isEqualTo(new Position(1, 51));
        }
    }

    @Test
    void closeWithoutCheckpointLeavesRecordsToRedo() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 0; i < 10; i++) {
                j.append(RecordKind.WRITE, 1, i * 4096L, 4096, Fixture.data(i, 4096));
            }
            j.checkpoint(new Position(1, 4));
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.recovery().cleanShutdown()).isFalse();
            assertThat(j.recovery().checkpoint()).isEqualTo(new Position(1, 4));
            assertThat(j.recovery().recordsToRedo()).isEqualTo(6);
            assertThat(Fixture.read(j, j.checkpoint(), j.head())).extracting(JournalRecord::seq).containsExactly(5L, 6L, 7L, 8L, 9L, 10L);
        }
    }

    @Test
    void epochsAreRecordedAndStampedIntoRecords() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            j.append(RecordKind.FLUSH, 0, 0, 0, null);
            j.append(RecordKind.FLUSH, 0, 0, 0, null);
            j.beginEpoch(5, "site-b");
            assertThat(j.durable()).as("the previous epoch's last record is durable").isEqualTo(new Position(1, 2));
            assertThat(j.append(RecordKind.FLUSH, 0, 0, 0, null)).isEqualTo(new Position(5, 3));
            assertThatThrownBy(() -> j.beginEpoch(5, "site-c")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("epoch 5").hasMessageContaining("current epoch 5");
            // positions of another epoch order by epoch first
            assertThat(Fixture.read(j, new Position(1, 2), j.head())).extracting(JournalRecord::position).containsExactly(new Position(5, 3));
            assertThat(Fixture.read(j, new Position(1, 99), j.head())).extracting(JournalRecord::position).containsExactly(new Position(5, 3));
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.epoch()).isEqualTo(5);
            assertThat(j.history()).containsExactly(new EpochEntry(1, "local", 1, 0), new EpochEntry(5, "site-b", 3, 2));
            assertThat(j.append(RecordKind.FLUSH, 0, 0, 0, null)).isEqualTo(new Position(5, 4));
        }
    }

    @Test
    void cursorsPersistAcrossCloseAndReopen() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 0; i < 20; i++) {
                j.append(RecordKind.FLUSH, 0, 0, 0, null);
            }
            JournalCursor c = j.cursor("peer-b", null);
            assertThat(c.position()).as("a new cursor starts at the head").isEqualTo(new Position(1, 20));
            for (int i = 0; i < 10; i++) {
                j.append(RecordKind.FLUSH, 0, 0, 0, null);
            }
            assertThat(c.lagRecords()).isEqualTo(10);
            c.advance(new Position(1, 25));
            c.advance(new Position(1, 22)); // never back
            assertThat(c.position()).isEqualTo(new Position(1, 25));
            assertThat(c.lagRecords()).isEqualTo(5);
            assertThatThrownBy(() -> c.advance(new Position(1, 31))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("peer-b");
            j.cursor("backup", null).close();
            assertThat(j.status().cursors()).extracting(cs -> cs.consumer()).containsExactly("backup", "peer-b");
        }
        try (FileJournal j = Fixture.open(storage)) {
            JournalStatus s = j.status();
            assertThat(s.cursors()).hasSize(2);
            JournalCursor c = j.cursor("peer-b", null);
            assertThat(c.position()).isEqualTo(new Position(1, 25));
            c.remove();
            assertThat(j.status().cursors()).extracting(cs -> cs.consumer()).containsExactly("backup");
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.status().cursors()).extracting(cs -> cs.consumer()).containsExactly("backup");
            assertThatThrownBy(() -> j.cursor(" ", null)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void checkpointReleasesSegmentsAndOlderReadsGetAGap() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 1; i <= 100; i++) {
                j.append(RecordKind.WRITE, 1, 0, 8000, Fixture.data(i, 8000));
            }
            int before = j.status().segments();
            j.checkpoint(new Position(1, 60));
            assertThat(j.retainedStart()).isGreaterThan(Position.ZERO).isLessThanOrEqualTo(new Position(1, 60));
            assertThat(j.status().segments()).isLessThanOrEqualTo(before);
            assertThatThrownBy(() -> j.read(Position.ZERO, j.head()))
                    .isInstanceOf(JournalGapException.class).hasMessageContaining(j.retainedStart().toString());
            List<JournalRecord> rest = Fixture.readAll(j);
            assertThat(rest.get(0).seq()).isEqualTo(j.retainedStart().seq() + 1);
            assertThat(rest.get(rest.size() - 1).seq()).isEqualTo(100);
            assertThat(j.status().records()).isEqualTo(rest.size());
        }
        try (FileJournal j = Fixture.open(storage)) {
            assertThat(j.retainedStart()).isGreaterThan(Position.ZERO);
            assertThat(Fixture.readAll(j)).last().extracting(JournalRecord::seq).isEqualTo(100L);
        }
    }

    @Test
    void aCursorHoldsRecordsUntilItPasses() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            JournalCursor c = j.cursor("peer-b", null);
            for (int i = 1; i <= 100; i++) {
                j.append(RecordKind.WRITE, 1, 0, 8000, Fixture.data(i, 8000));
            }
            j.checkpoint(j.head());
            assertThat(j.retainedStart()).as("negative control: the cursor at 0 keeps everything").isEqualTo(Position.ZERO);
            assertThat(Fixture.read(j, Position.ZERO, j.head())).hasSize(100);
            c.advance(new Position(1, 50));
            j.checkpoint(j.head());
            assertThat(j.retainedStart()).isGreaterThan(Position.ZERO).isLessThanOrEqualTo(new Position(1, 50));
            assertThatThrownBy(() -> j.read(Position.ZERO, j.head())).isInstanceOf(JournalGapException.class);
            assertThat(Fixture.read(j, c.position(), j.head())).hasSize(50);
        }
    }

    @Test
    void readerSeesOnlyWhatWasThereWhenItWasOpenedWhileAppendsGoOn() throws IOException {
        try (FileJournal j = Fixture.open(storage)) {
            for (int i = 1; i <= 10; i++) {
                j.append(RecordKind.WRITE, 1, 0, 3000, Fixture.data(i, 3000));
            }
            Position upTo = j.head();
            try (var r = j.read(Position.ZERO, upTo)) {
                int n = 0;
                JournalRecord rec;
                while ((rec = r.next()) != null) {
                    n++;
                    j.append(RecordKind.WRITE, 1, 0, 3000, Fixture.data(100 + n, 3000));
                }
                assertThat(n).isEqualTo(10);
            }
            assertThat(Fixture.readAll(j)).hasSize(20);
        }
    }

    @Test
    void managerRefusesToOpenAGroupTwice() throws IOException {
        JournalManager m = new JournalManager(storage, Fixture.ROOT, Fixture.settings(16 * Fixture.SEGMENT), Fixture.DIRECT);
        var j = m.open(new JournalOptions("alpha", 1, 0));
        assertThatThrownBy(() -> m.open(new JournalOptions("alpha", 1, 0))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("alpha");
        assertThatThrownBy(() -> m.open(new JournalOptions("../etc", 1, 0))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("../etc");
        assertThatThrownBy(() -> m.delete("alpha")).isInstanceOf(IllegalStateException.class);
        assertThat(m.status()).extracting(JournalStatus::group).containsExactly("alpha");
        assertThat(m.list()).containsExactly("alpha");
        m.closeAll();
        assertThat(m.status()).isEmpty();
        m.open(new JournalOptions("alpha", 1, 0)).close();
        m.delete("alpha");
        assertThat(m.list()).isEmpty();
        assertThatThrownBy(() -> m.open(new JournalOptions("beta", 2, Fixture.SEGMENT))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("capacityBytes");
        assertThat(j.head()).isEqualTo(Position.ZERO);
    }

    @Test
    void aGroupIdMismatchIsRefused() throws IOException {
        Fixture.open(storage).close();
        assertThatThrownBy(() -> FileJournal.open(storage, Fixture.ROOT, new JournalOptions(Fixture.GROUP, 99, 0),
                Fixture.settings(64 * Fixture.SEGMENT), Fixture.DIRECT, null))
                .isInstanceOf(IOException.class).hasMessageContaining("group id " + Fixture.GROUP_ID).hasMessageContaining("99");
    }
}
