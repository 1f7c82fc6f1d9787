/// A mark, where every node can see it, of the node that holds a block volume
/// mounted (EBS: a tag): a node that sees it never detaches the volume from under
/// a filesystem. A backend whose volumes no other node can reach (the local
/// provider's images) has none.
public protocol HolderMarks: Sendable {
    /// Records whether this node holds the volume mounted. Clearing leaves another
    /// node's mark alone.
    func setHeld(id: String, _ held: Bool) async throws(CloudstorError)
}
