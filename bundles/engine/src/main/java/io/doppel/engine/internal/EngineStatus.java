package io.doppel.engine.internal;

import java.util.List;

import io.doppel.api.group.GroupInfo;

/** What {@code doppel:status} shows; a service private to this bundle. */
public interface EngineStatus {

    /**
     * @param siteId          this site's id
     * @param siteName        its name
     * @param home            data home
     * @param serving         true when I/O is admitted
     * @param heldBecause     why I/O is held, when it is
     * @param volumeService   whether the volume service is bound
     * @param journalService  whether the journal service is bound
     * @param groups          every group
     * @param configProblems  configuration values that were refused
     */
    record Status(String siteId, String siteName, String home, boolean serving, String heldBecause,
                  boolean volumeService, boolean journalService, List<GroupInfo> groups, List<String> configProblems) {
    }

    Status status();
}
