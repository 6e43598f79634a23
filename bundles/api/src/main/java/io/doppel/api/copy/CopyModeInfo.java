package io.doppel.api.copy;

/**
 * A copy mode bound at this site, for {@code doppel:mode-list}.
 *
 * @param name         the mode's name ("sync", "async")
 * @param transfer     how its records reach the peer
 * @param waitsForPeer whether host writes wait for its peers
 * @param apply        when its peers apply what they receive
 * @param codec        the transfer codec its records travel with
 * @param bundle       the bundle that provides it (symbolic name), "" when not known
 * @param version      that bundle's version, "" when not known
 * @param pairs        pairs at this site (either role) in this mode
 * @param runnable     null when this engine can run pairs in it, else why not
 */
public record CopyModeInfo(String name, CopyMode.Transfer transfer, boolean waitsForPeer, CopyMode.Apply apply, String codec,
                           String bundle, String version, int pairs, String runnable) {
}
