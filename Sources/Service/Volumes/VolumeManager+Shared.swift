extension VolumeManager {
    /// Forgets the holds another node left when it died, on shared volumes and on
    /// a cluster root's, so they can be removed or mounted elsewhere; returns the
    /// volumes it held. Refused for this node (its holds are released by Unmount) and
    /// for a node the provider sees running. Where no provider can see (a cluster
    /// root), the operator's word is taken.
    public func clearHolds(of other: String) async throws(CloudstorError) -> [String] {
        guard !other.isEmpty, other.utf8.count <= 255 else {
            throw CloudstorError(.invalidArgument, "node must be 1 to 255 characters long")
        }
        guard other != node else {
            throw CloudstorError(
                .failedPrecondition,
                "\(other) is this node: its holds go with each holder's Unmount (or when its daemon restarts after a reboot); ask another node to clear them")
        }
        let leased = block as? any LeasedHolds
        if leased == nil, try await block.isRunning(node: other) {
            throw CloudstorError(
                .failedPrecondition,
                "node \(other) is running: stop the tasks using its volumes there; its daemon clears the holds it no longer has when it starts")
        }
        if leased == nil, shared == nil { _ = try sharedBackend() }
        var names = try await leased?.clearHolds(of: other) ?? []
        names += try await shared?.clearHolds(of: other) ?? []
        logger.notice("cleared the holds of another node", metadata: ["node": "\(other)", "volumes": "\(names.joined(separator: ","))"])
        return names.sorted()
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

extension VolumeManager {
    /// Renews this node's lease where holds have one; when the file system answers
    /// again after it was away, checks, under each volume's lock, that this node
    /// still holds what its ledger says it has mounted.
    func renewLease() async {
        guard let leased = block as? any LeasedHolds, await leased.renewIfDue() else { return }
        for (name, count) in ledger.holdCounts().sorted(by: { $0.key < $1.key }) where count > 0 {
            do {
                try await locks.withLock(name) { () async throws(CloudstorError) in
                    guard ledger.holdCount(name) > 0, let record = await store.knownVolume(named: name), record.backing == .relocatable else { return }
                    try await reassertHold(record)
                }
            } catch {
                logger.error("cannot check this node's hold", metadata: ["volume": "\(name)", "error": "\(error)"])
            }
        }
        logger.notice("the cluster root answers again; checked this node's holds")
    }

    /// Writes this node's hold again on a volume it has mounted, where holds have a
    /// lease and the hold is gone (under the volume's lock); says so loudly if another
    /// node holds it now.
    func reassertHold(_ record: VolumeRecord) async throws(CloudstorError) {
        guard let leased = block as? any LeasedHolds, let other = try await leased.reassert(id: record.cloudID) else { return }
        logger.critical(
            "a volume mounted here is held by another node: stop the task using it here", metadata: ["volume": "\(record.name)", "holder": "\(other)"])
    }
}
