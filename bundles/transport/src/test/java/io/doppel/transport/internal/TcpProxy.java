package io.doppel.transport.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A TCP proxy for tests: forwards bytes both ways; {@link #stall()} freezes the connections it
 * has (nothing forwarded, nothing closed); {@link #flipNextByte()} corrupts one byte going
 * from the client to the server.
 */
final class TcpProxy implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<Pair> pairs = new CopyOnWriteArrayList<>();
    private final AtomicBoolean flip = new AtomicBoolean();
    private volatile boolean closed;

    private static final class Pair {
        final Socket client;
        final Socket upstream;
        volatile boolean frozen;

        Pair(Socket client, Socket upstream) {
            this.client = client;
            this.upstream = upstream;
        }

        void close() {
            try {
                client.close();
            } catch (IOException e) {
                // closing
            }
            try {
                upstream.close();
            } catch (IOException e) {
                // closing
            }
        }
    }

    TcpProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.execute(this::accept);
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    int accepted() {
        return pairs.size();
    }

    /** Stops forwarding on every connection open now, without closing it. */
    void stall() {
        pairs.forEach(p -> p.frozen = true);
    }

    void flipNextByte() {
        flip.set(true);
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket upstream = new Socket();
                upstream.connect(target, 2000);
                Pair p = new Pair(client, upstream);
                pairs.add(p);
                threads.execute(() -> pump(p, client, upstream, true));
                threads.execute(() -> pump(p, upstream, client, false));
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(Pair p, Socket from, Socket to, boolean clientToServer) {
        byte[] buf = new byte[16384];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            while (!closed) {
                if (p.frozen) {
                    synchronized (p) {
                        p.wait(100);
                    }
                    continue;
                }
                int n = in.read(buf);
                if (n < 0) {
                    break;
                }
                if (p.frozen) {
                    continue; // swallowed: the peer never sees it
                }
                if (clientToServer && n > 40 && flip.compareAndSet(true, false)) {
                    buf[n / 2] ^= 0x01;
                }
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // the other side closed
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!p.frozen) {
            p.close();
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        pairs.forEach(Pair::close);
        threads.shutdownNow();
    }
}
