/// How a Mount gets a relocatable volume away from other nodes: it respects a
/// move's claim, waits for a running holder to let go, and detaches it from a
/// node that does not hold it (forced from one that is not running).
extension VolumeManager {
    /// Refuses, retryably, a Mount of a volume that a running node is moving to its
    /// zone (as this node last saw it): the attach would be undone by the move.
    func refuseIfClaimed(_ record: VolumeRecord, _ volume: BlockVolume) async throws(CloudstorError) {
        for claim in volume.marks where claim.node != node {
            if try await block.isRunning(node: claim.node) { throw Self.beingMoved(record, claim) }
        }
    }

    /// With this node's holder mark written: refuses, retryably, while a running
    /// node claims the volume to move it to its zone (writes here would miss the
    /// move's snapshot); clears a claim whose node is not running, or this node's own
    /// left by a move it gave up. Reads the volume afresh.
    func respectClaim(_ record: VolumeRecord) async throws(CloudstorError) {
        guard let relocator else { return }
        for _ in 0..<3 {
            guard let claim = try await current(record).claimOrRemoval else { return }
            if claim.node != node, try await block.isRunning(node: claim.node) { throw Self.beingMoved(record, claim) }
            logger.notice("clearing a stale move claim", metadata: ["volume": "\(record.name)", "claim": "\(claim.tag)"])
            // Only that claim: another node may have written its own since (read again).
            try await relocator.backend.releaseClaim(claim, on: record.cloudID)
        }
        throw CloudstorError(.unavailable, "volume \(record.name): its move claim keeps changing; try again")
    }

    static func beingMoved(_ record: VolumeRecord, _ claim: MoveClaim) -> CloudstorError {
        if claim.isRemoval {
            return CloudstorError(.unavailable, "volume \(record.name) is being removed by \(claim.node); try again")
        }
        return CloudstorError(
            .unavailable,
            "volume \(record.name) is being moved to \(claim.zone) by \(claim.node); mount it there, or try again once the move is done")
    }

    /// Waits until no other node has the volume attached: a node that is not
    /// running is force-detached; one that is running but does not hold the volume
    /// is detached; one that holds it gets `takeoverWait` to let go, then the Mount
    /// is refused (two writers on one block device lose data).
    func takeOver(_ record: VolumeRecord, _ observed: BlockVolume) async throws(CloudstorError) {
        guard let other = observed.attachment?.node, other != node else { return }
        let started = ContinuousClock.now
        do {
            try await detachElsewhere(record, observed)
        } catch {
            DaemonMetrics.moveFinished(kind: "node", outcome: Task.isCancelled ? "stopped" : "failed", since: started)
            throw error
        }
        DaemonMetrics.moveFinished(kind: "node", outcome: "ok", since: started)
    }

    private func detachElsewhere(_ record: VolumeRecord, _ observed: BlockVolume) async throws(CloudstorError) {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.takeoverWait
        var volume = observed
        var heldElsewhere: Duration = .zero   // waiting for the other node's Unmount: its task's time, not ours
        while let attachment = volume.attachment, attachment.node != node {
            if try await !block.isRunning(node: attachment.node) {
                logger.notice("force-detaching from a node that is not running", metadata: ["volume": "\(record.name)", "node": "\(attachment.node)"])
                try await block.detach(id: record.cloudID, from: attachment.node, force: true)
            } else if volume.holder != attachment.node {
                if heldElsewhere > .zero {
                    logger.info(
                        "the other node let go", metadata: ["volume": "\(record.name)", "node": "\(attachment.node)", "waited_ms": "\(heldElsewhere.milliseconds)"])
                }
                logger.info("detaching from a node that does not hold it", metadata: ["volume": "\(record.name)", "node": "\(attachment.node)"])
                try await block.detach(id: record.cloudID, from: attachment.node, force: false)
            } else if clock.now >= deadline {
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(record.name) is in use on \(attachment.node), which is running and holds it mounted: stop the task using it there (or wait for its Unmount), then try again\(attachment.note.map { " (\($0))" } ?? "")")
            } else {
                let before = clock.now
                try await pause(Self.takeoverPoll)
                volume = try await current(record)
                heldElsewhere += clock.now - before
                continue
            }
            volume = try await current(record)
        }
    }

    func current(_ record: VolumeRecord, fresh: Bool = true) async throws(CloudstorError) -> BlockVolume {
        guard let volume = try await block.describe(id: record.cloudID, fresh: fresh) else {
            throw CloudstorError(.notFound, "volume \(record.name): its storage \(record.cloudID) is gone")
        }
        return volume
    }

    func pause(_ duration: Duration) async throws(CloudstorError) {
        do {
            try await Task.sleep(for: duration)
        } catch {
            throw CloudstorError(.unavailable, "cancelled: the daemon is stopping; try again")
        }
    }

    /// How often a Mount looks whether the node holding the volume let go: each
    /// look is one DescribeVolumes; the move waits up to this long after the Unmount.
    static let takeoverPoll: Duration = .seconds(1)
}
