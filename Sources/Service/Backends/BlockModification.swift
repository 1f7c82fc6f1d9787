/// A change of a relocatable volume's size, type or performance (EBS:
/// ModifyVolume), as its provider reports it. The provider applies it in the
/// background: the new size is on the device from `optimizing` on.
public struct BlockModification: Sendable, Equatable {
    public enum State: String, Sendable {
        case modifying, optimizing, completed, failed
    }

    public var state: State
    /// 0-100.
    public var progress: Int
    /// RFC 3339, UTC.
    public var startedAt: String
    /// Why it failed, when it did.
    public var message: String

    public init(state: State, progress: Int, startedAt: String, message: String = "") {
        self.state = state
        self.progress = progress
        self.startedAt = startedAt
        self.message = message
    }

    /// The device shows the new size: its filesystem can grow.
    public var sizeInEffect: Bool { state == .optimizing || state == .completed }

    public var isDone: Bool { state == .completed || state == .failed }

    /// "modifying 40%", "completed", "failed: …".
    public var summary: String {
        switch state {
        case .modifying, .optimizing: "\(state.rawValue) \(progress)%"
        case .completed: "completed"
        case .failed: message.isEmpty ? "failed" : "failed: \(message)"
        }
    }
}
