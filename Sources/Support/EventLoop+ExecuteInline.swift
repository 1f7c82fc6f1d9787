import NIOCore

extension EventLoop {
    /// Runs `body` inline when called on the loop's thread, else executes it on the
    /// loop: how a call's task that prefers the loop reaches its channel without a
    /// needless trip through the loop's queue.
    public func executeInline(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop { body() } else { execute(body) }
    }
}
