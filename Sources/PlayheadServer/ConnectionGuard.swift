import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Hummingbird's HTTP/1.1 channel with WebSocket upgrade, guarded against connections that
/// never finish their first request head.
///
/// Until that head is parsed, the channel's pipeline holds only NIO's upgrade negotiation,
/// and Hummingbird's handling task awaits the negotiation's future: neither a graceful
/// shutdown's quiesce event nor the task's cancellation reaches anything that would close
/// the connection, so one silent client kept a stopping server alive until ServiceLifecycle
/// aborted the process. The guard closes such a connection on quiesce and after
/// ``ServerConfiguration/requestHeadTimeout``, and closes any connection whose handling task
/// is cancelled (the end of the graceful shutdown's limit).
///
/// It also bounds the kernel's queue of unsent bytes per connection (`TCP_NOTSENT_LOWAT`,
/// tcp(7)): without it Linux autotunes a send buffer of up to 4 MiB, and what a slow reader
/// has not read piles up there, out of sight of NIO's writability. With the bound, a client
/// that reads slowly makes writes wait where the server sees it (a fast socket replay waits
/// for it), and a packet queued behind that backlog (an Engine.IO ping, an ack) is not
/// megabytes late.
struct GuardedUpgradeChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    /// The unsent bytes the kernel may hold per connection (nginx and HTTP/2 servers use 16
    /// to 128 KiB); the most one write to a client waits behind in the kernel.
    static let unsentBytesLimit: SocketOptionValue = 128 * 1024

    let upgradeChannel: HTTP1WebSocketUpgradeChannel
    let requestHeadTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        upgradeChannel.setup(channel: channel, logger: logger).flatMapThrowing { value in
            #if os(Linux)
            try channel.syncOptions?.setOption(.tcpOption(.init(rawValue: CInt(TCP_NOTSENT_LOWAT))), value: Self.unsentBytesLimit)
            #endif
            try channel.pipeline.syncOperations.addHandler(
                PendingRequestHeadHandler(timeout: TimeAmount(requestHeadTimeout)),
                position: .first
            )
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        let channel = value.channel
        await withTaskCancellationHandler {
            await upgradeChannel.handle(value: value, logger: logger)
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Closes its connection on quiesce or after a timeout while the first request head is still
/// being negotiated (NIO's upgrade handler is still in the pipeline); once the head is read
/// it only passes events on.
final class PendingRequestHeadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let context = loopBound.value
            if Self.isNegotiating(context) { context.close(promise: nil) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, Self.isNegotiating(context) {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether the connection's first request head is still unread: the upgrade handler
    /// removes itself once it has decided (upgraded or not).
    private static func isNegotiating(_ context: ChannelHandlerContext) -> Bool {
        (try? context.pipeline.syncOperations.context(
            handlerType: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self
        )) != nil
    }
}
