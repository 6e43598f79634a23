package io.doppel.copysync.internal;

import io.doppel.api.copy.ApplyObservation;
import io.doppel.api.copy.CopyMode;
import io.doppel.api.copy.PullObservation;
import io.doppel.api.copy.PullPlan;

import org.osgi.service.component.annotations.Component;

/**
 * Synchronous copy: the primary pushes each record as it is appended, and a host write
 * completes only once every in-sync peer holds the record in its journal (FLUSH and FUA once
 * it is durable there). The secondary applies what it receives at once.
 */
@Component(service = CopyMode.class, property = CopyMode.NAME + "=sync")
public final class SyncCopyMode implements CopyMode {

    /** Records a secondary applies in one go: a sync copy keeps its volumes close to its journal. */
    static final int APPLY_BATCH = 4096;

    @Override
    public String name() {
        return "sync";
    }

    @Override
    public Transfer transfer() {
        return Transfer.PUSH;
    }

    @Override
    public boolean waitsForPeer() {
        return true;
    }

    @Override
    public PullPlan planPull(PullObservation last) {
        // Pushed mode: the secondary never pulls.
        return new PullPlan(1000, 0, "records are pushed");
    }

    @Override
    public int applyBudget(ApplyObservation now) {
        return APPLY_BATCH;
    }
}
