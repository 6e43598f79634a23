package io.doppel.api.transport;

import java.util.concurrent.CompletionStage;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Whiteboard service: handles the frames of the types it lists in its service property
 * {@value #TYPES} (an Integer array or comma-separated list). Called on a transport thread in
 * the order the frames arrived on that link; a handler that must block hands the work to its
 * own executor and completes the stage later.
 */
@ConsumerType
public interface FrameHandler {

    /** Service property listing the frame types this handler takes. */
    String TYPES = "doppel.frame.types";

    /**
     * @param peer  the name of the (authenticated) peer it came from
     * @param frame the frame
     * @return the reply to a request (its type is the handler's choice), or null for a frame
     *         sent with {@link PeerLink#send}. An exceptional completion reaches the requester
     *         as a {@link RemoteException} with the message.
     */
    CompletionStage<Frame> handle(String peer, Frame frame);
}
