/// Why an attach found no room: the node has as many volumes attached as it may.
/// The manager answers it by detaching, early, a volume that nothing holds and
/// that only waits out its detach delay, or by waiting out a detach under way; if
/// there is none, the Mount fails with this said.
public struct AttachmentLimit: CustomStringConvertible, Sendable {
    public var attached: Int
    public var limit: Int
    /// Where the limit comes from: "instance type m5.large", "--max-attachments".
    public var source: String

    public init(attached: Int, limit: Int, source: String) {
        self.attached = attached
        self.limit = limit
        self.source = source
    }

    public var description: String {
        "it has \(attached) \(attached == 1 ? "volume" : "volumes") attached, the most allowed (\(limit), by \(source)); unmount some first"
    }
}
