import NIOCore
import NIOHTTP2

/// Passes on a stream's `StreamClosedEvent` only if the stream was created. NIOHTTP2
/// announces the close of a stream reset before it began (a header block HTTP/2
/// forbids, say), and NIOHTTP2ServerConnectionManagementHandler asserts that every
/// stream it hears closed was open: in a debug build one such request would stop
/// the daemon. Sits between the two.
final class StreamClosedFilter: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    private var open: Set<HTTP2StreamID> = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let created as NIOHTTP2StreamCreatedEvent:
            open.insert(created.streamID)
        case let closed as StreamClosedEvent:
            guard open.remove(closed.streamID) != nil else { return }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }
}
