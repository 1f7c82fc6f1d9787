import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import CloudstorRPC

/// NIOHTTP2's connection manager asserts that each stream it hears closed was
/// open: the filter passes a close on only for a stream that was created.
@Suite struct StreamClosedFilterTests {
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame
        var closed: [HTTP2StreamID] = []

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? StreamClosedEvent { closed.append(event.streamID) }
        }
    }

    @Test func aCloseIsPassedOnOnlyForAStreamThatWasCreated() throws {
        let recorder = Recorder()
        let channel = EmbeddedChannel(handlers: [StreamClosedFilter(), recorder])
        // Reset before it began (a header block HTTP/2 forbids): never created.
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 1, reason: .protocolError))
        channel.pipeline.fireUserInboundEventTriggered(
            NIOHTTP2StreamCreatedEvent(streamID: 3, localInitialWindowSize: nil, remoteInitialWindowSize: nil))
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 3, reason: nil))
        // Closed twice: the second is not the manager's to hear either.
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 3, reason: nil))
        #expect(recorder.closed == [3])
        _ = try channel.finish()
    }
}
