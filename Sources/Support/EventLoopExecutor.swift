import NIOCore

/// A task executor that runs jobs on one NIO event loop. Serving under it as the
/// task-executor preference keeps a call's handler on the loop whose channel
/// received it: no hop to Swift's global pool and back for each call.
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
