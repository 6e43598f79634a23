package io.doppel.engine.internal;

/** This site's processing load, as pull pacing reads it ({@link LoadMeter} measures it). */
interface SiteLoad {

    /** How busy this site's CPUs are, all work included, 0 to 1 (sent to secondaries with records). */
    double cpuBusy();

    /** The busy share apart from replication's own work, 0 to 1 (the secondary's own load). */
    double otherLoad();
}
