package io.doppel.journal.command;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import io.doppel.api.journal.CursorStatus;
import io.doppel.api.journal.JournalService;
import io.doppel.api.journal.JournalStatus;
import io.doppel.api.units.ByteSize;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/** Shows the state of the open journals. */
@Service
@Command(scope = "doppel", name = "journal-status", description = "Shows the open journals: positions, space, group commit, activity log, cursors")
public class JournalStatusCommand implements Action {

    @Reference
    JournalService journals;

    @Argument(index = 0, name = "group", description = "Only this group's journal", required = false)
    @Completion(GroupCompleter.class)
    String group;

    @Option(name = "-j", aliases = "--json", description = "Print JSON for scripts")
    boolean json;

    @Option(name = "--no-format", description = "Plain table without borders")
    boolean noFormat;

    @Override
    public Object execute() throws Exception {
        List<JournalStatus> all = journals.status();
        List<JournalStatus> shown = all;
        if (group != null) {
            shown = all.stream().filter(s -> s.group().equals(group)).collect(Collectors.toList());
            if (shown.isEmpty()) {
                String open = all.isEmpty() ? "none" : all.stream().map(JournalStatus::group).collect(Collectors.joining(", "));
                throw new IllegalArgumentException("no open journal for group '" + group + "' (open journals: " + open + ")");
            }
        }
        if (json) {
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            System.out.println(mapper.writeValueAsString(group != null ? shown.get(0) : shown));
            return null;
        }
        table(shown).print(System.out, !noFormat);
        return null;
    }

    static ShellTable table(List<JournalStatus> statuses) {
        ShellTable t = new ShellTable();
        t.column("Group");
        t.column("Epoch").alignRight();
        t.column("Head").alignRight();
        t.column("Durable").alignRight();
        t.column("Checkpoint").alignRight();
        t.column("Retained from").alignRight();
        t.column("Used/Capacity");
        t.column("Segments").alignRight();
        t.column("Records").alignRight();
        t.column("Forces").alignRight();
        t.column("Avg batch").alignRight();
        t.column("AL extents").alignRight();
        t.column("Cursors (lag)");
        for (JournalStatus s : statuses) {
            t.addRow().addContent(s.group(), s.epoch(), s.head(), s.durable(), s.checkpoint(), s.retainedStart(),
                    ByteSize.format(s.usedBytes()) + " / " + ByteSize.format(s.capacityBytes()), s.segments(), s.records(), s.forces(),
                    averageBatch(s), s.activeExtents(), cursors(s.cursors()));
        }
        return t;
    }

    static String averageBatch(JournalStatus s) {
        return s.forces() == 0 ? "-" : String.format(Locale.ROOT, "%.1f", s.forcedRecords() / (double) s.forces());
    }

    static String cursors(List<CursorStatus> cs) {
        if (cs.isEmpty()) {
            return "-";
        }
        return cs.stream().map(c -> c.consumer() + "@" + c.position() + " (" + c.lagRecords() + ")").collect(Collectors.joining(", "));
    }
}
