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

    /// About ten events pass a call, most of them window updates; each is told
    /// by its type first, as a failed `as?` of an `Any` costs hundreds of instructions.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let kind = type(of: event)
        if kind == NIOHTTP2StreamCreatedEvent.self {
            open.insert((event as! NIOHTTP2StreamCreatedEvent).streamID)
        } else if kind == StreamClosedEvent.self {
            guard open.remove((event as! StreamClosedEvent).streamID) != nil else { return }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
