import GRPCCore
import Synchronization

/// Orders a gRPC server's start against a stop request that can come at any
/// instant. A server told to stop before it has bound closes its listener from
/// inside the bootstrap (NIO then asserts, or in a release build closes a
/// descriptor twice), and one told before `serve()` refuses to serve at all. So a
/// stop that comes first means the server is never made; one that comes while the
/// server binds waits until it listens; after that it goes straight through.
final class ServerGate<Transport: ServerTransport>: Sendable {
    private enum State {
        case idle
        case binding(GRPCServer<Transport>)
        case stopPending(GRPCServer<Transport>)
        case serving(GRPCServer<Transport>)
        case stopped
    }

    private let state = Mutex(State.idle)

    /// Makes the server unless a stop came first (then nil: nothing to serve).
    func start(_ make: () -> GRPCServer<Transport>) -> GRPCServer<Transport>? {
        state.withLock { state in
            guard case .idle = state else { return nil }
            let server = make()
            state = .binding(server)
            return server
        }
    }

    /// Call once the server listens (or has failed to): a stop that came meanwhile is passed on now.
    func listening() {
        let stopNow: GRPCServer<Transport>? = state.withLock { state in
            switch state {
            case .binding(let server):
                state = .serving(server)
                return nil
            case .stopPending(let server):
                state = .stopped
                return server
            case .idle, .serving, .stopped:
                return nil
            }
        }
        stopNow?.beginGracefulShutdown()
    }

    /// Asks for a graceful stop, whenever it comes.
    func stop() {
        let stopNow: GRPCServer<Transport>? = state.withLock { state in
            switch state {
            case .idle:
                state = .stopped
                return nil
            case .binding(let server):
                state = .stopPending(server)
                return nil
            case .serving(let server):
                state = .stopped
                return server
            case .stopPending, .stopped:
                return nil
            }
        }
        stopNow?.beginGracefulShutdown()
    }
}
