package io.doppel.transport.internal;

import java.util.concurrent.atomic.AtomicLong;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;

/**
 * First in the pipeline: counts the bytes a connection carries (TLS records included) and
 * when it last received any, which is what decides that a peer is dead: a large frame that
 * takes a while to arrive keeps the link alive.
 */
final class Traffic extends ChannelDuplexHandler {

    final AtomicLong received = new AtomicLong();
    final AtomicLong sent = new AtomicLong();
    volatile long lastReadNanos = System.nanoTime();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            received.addAndGet(b.readableBytes());
            lastReadNanos = System.nanoTime();
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf b && b.readableBytes() > 0) {
            int n = b.readableBytes();
            ChannelPromise p = promise.unvoid();
            p.addListener(f -> {
                if (f.isSuccess()) {
                    sent.addAndGet(n);
                }
            });
            ctx.write(msg, p);
        } else {
            ctx.write(msg, promise);
        }
    }
}
