import NIOCore

/// A server's open connections, kept on its event loop: a graceful stop asks each
/// to finish what it is answering and close (`ChannelShouldQuiesceEvent`: GOAWAY on
/// HTTP/2, close after the response in flight on HTTP/1), a cancelled stop closes
/// them now.
public final class ConnectionSet {
    private var channels: [ObjectIdentifier: any Channel] = [:]
    private var stopped: EventLoopPromise<Void>?

    public init() {}

    /// A new connection; one that comes while stopping is closed at once.
    public func add(_ channel: any Channel) {
        guard stopped == nil else {
            channel.close(promise: nil)
            return
        }
        let id = ObjectIdentifier(channel)
        channels[id] = channel
        let connections = NIOLoopBound(self, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { _ in connections.value.remove(id) }
    }

    /// Closes the listener and quiesces every connection; `stopped` succeeds once all have closed.
    public func stop(listener: any Channel, stopped: EventLoopPromise<Void>) {
        self.stopped = stopped
        listener.close().whenComplete { _ in
            for channel in self.channels.values {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
            self.checkStopped()
        }
    }

    /// Closes every connection without waiting for its calls.
    public func closeAll() {
        for channel in channels.values { channel.close(promise: nil) }
    }

    private func remove(_ id: ObjectIdentifier) {
        channels[id] = nil
        checkStopped()
    }

    private func checkStopped() {
        if channels.isEmpty, let stopped {
            self.stopped = nil
            stopped.succeed()
        }
    }
}
