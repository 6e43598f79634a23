package io.doppel.failover.internal;

import io.doppel.api.failover.FailoverPolicy;

import org.osgi.service.component.annotations.Component;

/**
 * The default failover policy: a site takes a group over only when the operator says so
 * ({@code doppel:takeover}), never by itself. It needs nothing but the two sites; the engine
 * still refuses an Outdated or inconsistent copy without {@code --force}.
 */
@Component(service = FailoverPolicy.class, property = "policy=manual")
public final class ManualFailoverPolicy implements FailoverPolicy {

    @Override
    public String name() {
        return "manual";
    }

    @Override
    public Decision decide(TakeoverRequest r) {
        if (!r.byOperator()) {
            return Decision.refuse("the manual policy takes over only when the operator asks (doppel:takeover)");
        }
        if (r.primaryConnected() && !r.force()) {
            // a reachable primary still serves: two sites would accept writes for the group
            return Decision.refuse(r.primary() + " is connected and still the primary; stop it first, or use --force"
                    + " (its writes after the takeover are then kept only in its snapshot, or are a split-brain)");
        }
        return Decision.allow("asked by the operator" + (r.force() ? " with --force" : "")
                + (r.primaryConnected() ? "" : "; " + r.primary() + " is not connected"));
    }
}
