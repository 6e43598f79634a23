/**
 * Failover: a secondary taking a group over, the old primary returning as its secondary, and
 * the policy that decides who may take over. The engine provides {@link io.doppel.api.failover.FailoverService};
 * policies ({@code manual}; later a quorum policy) are {@link io.doppel.api.failover.FailoverPolicy}
 * services.
 */
@Version("1.0.0")
package io.doppel.api.failover;

import org.osgi.annotation.versioning.Version;
