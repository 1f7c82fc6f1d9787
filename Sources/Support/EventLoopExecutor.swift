import NIOCore

/// A task executor that runs jobs on one NIO event loop. Serving under it as the
/// task-executor preference keeps a call's handler on the loop whose channel
/// received it: no hop to Swift's global pool and back for each call.
public final class EventLoopExecutor: TaskExecutor {
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
