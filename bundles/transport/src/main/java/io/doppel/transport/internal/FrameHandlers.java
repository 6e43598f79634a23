package io.doppel.transport.internal;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import io.doppel.api.transport.Frame;
import io.doppel.api.transport.FrameHandler;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The frame handlers by type. When two handlers claim a type, the one with the higher service
 * ranking (then the lower service id) gets its frames; the other takes over if the first goes.
 * Lookups read an immutable map that a change replaces whole.
 */
public final class FrameHandlers {

    private static final Logger LOG = LoggerFactory.getLogger(FrameHandlers.class);

    private record Entry(FrameHandler handler, Set<Integer> types, int ranking, long serviceId) {
    }

    private static final Comparator<Entry> PRECEDENCE = Comparator.comparingInt(Entry::ranking).reversed()
            .thenComparingLong(Entry::serviceId);

    private final List<Entry> entries = new ArrayList<>();
    private volatile Map<Integer, FrameHandler> byType = Map.of();
    private long nextId = Long.MAX_VALUE / 2;

    /** Adds a handler for the types in its {@value FrameHandler#TYPES} property (as the whiteboard does). */
    public void add(FrameHandler handler, Map<String, ?> properties) {
        Object ranking = properties.get("service.ranking");
        Object id = properties.get("service.id");
        Set<Integer> types = types(properties.get(FrameHandler.TYPES), handler);
        synchronized (this) {
            entries.add(new Entry(handler, types, ranking instanceof Integer r ? r : 0,
                    id instanceof Long l ? l : nextId++));
            rebuild();
        }
        LOG.debug("Frame handler {} takes types {}", handler, types);
    }

    /** Adds a handler for the given types (tests and callers without service properties). */
    public void add(FrameHandler handler, int... types) {
        List<Integer> list = new ArrayList<>();
        for (int t : types) {
            list.add(t);
        }
        add(handler, Map.of(FrameHandler.TYPES, list));
    }

    public synchronized void remove(FrameHandler handler) {
        entries.removeIf(e -> e.handler == handler);
        rebuild();
    }

    FrameHandler find(int type) {
        return byType.get(type);
    }

    private void rebuild() {
        Map<Integer, FrameHandler> next = new HashMap<>();
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(PRECEDENCE);
        for (Entry e : sorted) {
            for (int t : e.types) {
                FrameHandler old = next.putIfAbsent(t, e.handler);
                if (old != null) {
                    LOG.warn("Frame type {} is claimed by {} and {}; {} gets the frames", t, old, e.handler, old);
                }
            }
        }
        byType = Map.copyOf(next);
    }

    /** Parses the types property: an Integer, an int or Integer array, a collection, or "100,101". */
    static Set<Integer> types(Object raw, Object handler) {
        Set<Integer> out = new TreeSet<>();
        List<Object> values = new ArrayList<>();
        if (raw instanceof int[] ints) {
            for (int i : ints) {
                values.add(i);
            }
        } else if (raw instanceof Object[] array) {
            values.addAll(List.of(array));
        } else if (raw instanceof Collection<?> c) {
            values.addAll(c);
        } else if (raw != null) {
            values.add(raw);
        }
        for (Object v : values) {
            for (String part : String.valueOf(v).split(",")) {
                String s = part.trim();
                if (s.isEmpty()) {
                    continue;
                }
                try {
                    int t = Integer.parseInt(s);
                    if (t < Frame.FIRST_SERVICE_TYPE || t > Wire.MAX_TYPE) {
                        LOG.error("Frame handler {}: {} = {} is outside {}..{}; ignored", handler, FrameHandler.TYPES,
                                t, Frame.FIRST_SERVICE_TYPE, Wire.MAX_TYPE);
                    } else {
                        out.add(t);
                    }
                } catch (NumberFormatException e) {
                    LOG.error("Frame handler {}: {} contains '{}', which is not a frame type; ignored", handler,
                            FrameHandler.TYPES, s);
                }
            }
        }
        if (out.isEmpty()) {
            LOG.warn("Frame handler {} lists no valid frame types in {}: it gets no frames", handler,
                    FrameHandler.TYPES);
        }
        return out;
    }
}
