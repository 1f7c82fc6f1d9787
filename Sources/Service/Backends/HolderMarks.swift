/// A mark, where every node can see it, of the node that holds a block volume
/// mounted (EBS: a tag): a node that sees it never detaches the volume from under
/// a filesystem. A backend whose volumes no other node can reach (the local
/// provider's images) has none.
public protocol HolderMarks: Sendable {
    /// Records whether this node holds the volume mounted. Clearing leaves another
    /// node's mark alone.
    func setHeld(id: String, _ held: Bool) async throws(CloudstorError)
}

/// Holds that every node reads on a file system they all mount (a cluster root),
/// with a lease each node renews while it runs. No provider can tell whether a
/// node that stopped renewing is dead or cut off, so its holds stay until an
/// operator declares it dead (or a configured takeover time has passed).
public protocol LeasedHolds: Sendable {
    /// Renews this node's lease when due. True when the file system answers again
    /// after failing or stalling: the caller then checks its holds with `reassert`.
    func renewIfDue() async -> Bool
    /// For a volume this node has mounted: writes its hold again if it is gone and no
    /// other node holds the volume; returns the node that holds it instead, if any.
    func reassert(id: String) async throws(CloudstorError) -> String?
    /// Forgets every hold of a node an operator declares dead; returns the volumes.
    func clearHolds(of node: String) async throws(CloudstorError) -> [String]
}
