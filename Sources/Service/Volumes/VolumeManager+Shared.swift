extension VolumeManager {
    /// Forgets the holds another node left on shared volumes when it died, so
    /// they can be removed; returns the volumes it held. Refused for this node
    /// (its holds are released by Unmount) and for a node the provider sees running.
    public func clearHolds(of other: String) async throws(CloudstorError) -> [String] {
        guard !other.isEmpty, other.utf8.count <= 255 else {
            throw CloudstorError(.invalidArgument, "node must be 1 to 255 characters long")
        }
        guard other != node else {
            throw CloudstorError(
                .failedPrecondition,
                "\(other) is this node: its holds go with each holder's Unmount (or when its daemon restarts after a reboot); ask another node to clear them")
        }
        guard try await !block.isRunning(node: other) else {
            throw CloudstorError(
                .failedPrecondition,
                "node \(other) is running: stop the tasks using its volumes there; its daemon clears the holds it no longer has when it starts")
        }
        let names = try sharedBackend().clearHolds(of: other)
        logger.notice("cleared the holds of another node", metadata: ["node": "\(other)", "volumes": "\(names.joined(separator: ","))"])
        return names
    }

    /// Deletes removed shared volumes' files once their trash delay has passed;
    /// looks again a minute later for what other nodes removed.
    func emptyTrashIfDue() async {
        let due = trashDue.withLock { (next) -> Bool in
            guard next <= .now else { return false }
            next = .now + .seconds(60)
            return true
        }
        guard let shared, due else { return }
        await shared.emptyTrash(olderThan: configuration.trashDelay)
    }
}
