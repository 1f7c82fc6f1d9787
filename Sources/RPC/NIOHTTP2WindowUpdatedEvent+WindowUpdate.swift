import NIOHTTP2

/// With no stream multiplexer, NIOHTTP2 leaves the inbound flow-control windows to
/// the handler after it: both ends of a call reopen them here, as NIOHTTP2's
/// multiplexer does, once half is used. A handler that forgets it hangs its
/// connection after ~64 KiB of request bytes it dropped.
extension NIOHTTP2WindowUpdatedEvent {
    /// The window NIO's default settings give each stream, and the connection's at start.
    private static let initialWindow = 65535

    /// The WINDOW_UPDATE that opens what the peer may send back to the initial
    /// window; nil while more than half of it is left.
    var windowUpdate: HTTP2Frame? {
        guard let size = inboundWindowSize, size <= Self.initialWindow / 2 else { return nil }
        return HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: Self.initialWindow - size))
    }
}
