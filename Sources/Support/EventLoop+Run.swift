import NIOCore

extension EventLoop {
    /// Runs `body` now when called on the loop's thread, else as a task on the loop:
    /// what a channel's handler, or a call's task that prefers the loop, does to
    /// reach its channel without a needless trip through the loop's queue.
    public func run(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop { body() } else { execute(body) }
    }
}
