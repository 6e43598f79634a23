package io.doppel.failover.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.doppel.api.failover.FailoverPolicy.Decision;
import io.doppel.api.failover.FailoverPolicy.TakeoverRequest;

import org.junit.jupiter.api.Test;

class ManualFailoverPolicyTest {

    private final ManualFailoverPolicy policy = new ManualFailoverPolicy();

    @Test
    void allowsWhatTheOperatorAsksWhileThePrimaryIsAway() {
        Decision d = policy.decide(new TakeoverRequest("db", "b", "a", true, false, false, true, false));
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).contains("asked by the operator").contains("a is not connected");
    }

    @Test
    void refusesATakeoverNobodyAskedFor() {
        Decision d = policy.decide(new TakeoverRequest("db", "b", "a", false, false, false, true, false));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).contains("only when the operator asks");
    }

    @Test
    void refusesWhileThePrimaryIsConnectedUnlessForced() {
        Decision d = policy.decide(new TakeoverRequest("db", "b", "a", true, false, false, true, true));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).contains("a is connected and still the primary");
        assertThat(policy.decide(new TakeoverRequest("db", "b", "a", true, true, false, true, true)).allowed()).isTrue();
    }
}
