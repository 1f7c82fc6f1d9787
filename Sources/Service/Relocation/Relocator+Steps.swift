import FoundationEssentials
import Logging

extension Relocator {
    /// Runs `MovePlan` until the move is committed and cleaned up, or there is
    /// nothing to move. Transient errors wait and observe again; others end the
    /// move, giving up this node's claim.
    func steps(_ record: VolumeRecord) async throws(CloudstorError) {
        var fromZone = "?"
        var waited = 0
        let clock = ContinuousClock()
        var heldSince: ContinuousClock.Instant?
        var claimantSince: ContinuousClock.Instant?
        var claimed: (claim: MoveClaim, source: String)?   // to give up on failure
        do throws(CloudstorError) {
            while true {
                var holderWait = false
                var givenUp: CloudstorError?
                do throws(CloudstorError) {
                    let state = try await backend.observeMove(of: record)
                    if let source = state.source { fromZone = source.zone }
                    if let source = state.source, let claim = source.claim, claim.node == backend.node { claimed = (claim, source.id) }
                    var running: Set<String> = []
                    for instance in MovePlan.instances(in: state, node: backend.node).sorted() where try await backend.isRunning(node: instance) {
                        running.insert(instance)
                    }
                    let step = MovePlan.next(
                        state, node: backend.node, zone: backend.zone, running: running, newClaimID: MoveClaim.newID())
                    if case .waitForHolder = step {} else if let since = heldSince {
                        logger.info("the other node let go", metadata: ["volume": "\(record.name)", "waited_ms": "\((clock.now - since).milliseconds)"])
                        heldSince = nil
                    }
                    let report = { (text: String) in self.report(record, from: fromZone, step, text) }
                    switch step {
                    case .nothing:
                        return
                    case .lost:
                        throw CloudstorError(.notFound, "volume \(record.name): its storage \(record.cloudID) is gone and no moved copy exists")
                    case .finish(let target, let source):
                        report("cleaning up")
                        try await store.save(VolumeRecord(
                            name: record.name, backing: record.backing, options: record.options, cloudID: target, createdAt: record.createdAt))
                        try await backend.cleanUpMove(source: source, target: target)
                        return
                    case .claim(let claim):
                        if let stale = state.source?.claim, stale.node == backend.node {
                            logger.notice("the volume was mounted elsewhere during the move: starting over", metadata: ["volume": "\(record.name)"])
                        }
                        report("claiming it")
                        try await backend.claim(claim, on: state.source!.id)
                        claimed = (claim, state.source!.id)
                        continue
                    case .waitForClaimant(let other):
                        // Its move, not this one: waited for a while, then left to it (retryably).
                        let since = claimantSince ?? clock.now
                        claimantSince = since
                        if clock.now - since >= takeoverWait {
                            let removing = state.source?.removal?.node == other || state.source?.claim?.isRemoval == true
                            givenUp = removing
                                ? CloudstorError(.unavailable, "volume \(record.name) is being removed by \(other); try again")
                                : CloudstorError(
                                .unavailable,
                                "volume \(record.name) is being moved to \(state.source?.claim?.zone ?? "?") by \(other): try again once that move is done (if cloudstor no longer runs on \(other), stop that instance, or delete the tag \(MoveClaim.tagKey) of \(state.source?.id ?? "?"))")
                            break
                        }
                        report("waiting for \(other), which is moving it")
                    case .waitForHolder(let holder):
                        let since = heldSince ?? clock.now
                        heldSince = since
                        guard clock.now - since < takeoverWait else {
                            throw CloudstorError(
                                .failedPrecondition,
                                "volume \(record.name) is in use on \(holder) in \(fromZone), which is running and holds it mounted: stop the task using it there, then try again")
                        }
                        report("waiting for \(holder) to unmount it")
                        holderWait = true
                    case .clearHolder(let holder):
                        try await backend.clearHolder(holder, on: state.source!.id)
                        continue
                    case .detach(let node, let force):
                        report("detaching from \(node)")
                        try await backend.detach(id: state.source!.id, from: node, force: force)
                        continue
                    case .startSnapshot:
                        // A modification still changing the source (EC2 allows four a day): the
                        // copy waits for its new size and type.
                        if let source = state.source, let since = source.modifiedAt, Date().timeIntervalSince(since) < 24 * 3600,
                            let modification = try await backend.modification(of: source.id), modification.state == .modifying
                        {
                            report("waiting for its modification (\(modification.summary))")
                            break
                        }
                        report("snapshot 0%")
                        try await backend.startMoveSnapshot(of: record, claim: state.source!.claim!)
                        waited = 0
                        continue
                    case .waitForSnapshot(let percent):
                        report("snapshot \(percent)%")
                    case .snapshotFailed(let snapshot):
                        throw CloudstorError(.internalError, "the snapshot \(snapshot) of \(record.name) failed; the volume is unchanged in \(fromZone)")
                    case .createTarget(let snapshot):
                        report("creating the volume in \(backend.zone)")
                        try await backend.createMoveTarget(of: record, from: snapshot, claim: state.source!.claim!)
                        waited = 0
                        continue
                    case .waitForTarget(let target):
                        report("creating \(target) in \(backend.zone)")
                    case .commit(let source, let target):
                        report("switching to \(target)")
                        try await backend.supersede(source, by: target)
                        continue
                    }
                } catch {
                    guard error.code == .unavailable else { throw error }
                    logger.notice("move waits on a transient error", metadata: ["volume": "\(record.name)", "error": "\(error)"])
                }
                if let givenUp { throw givenUp }
                // A step waits on EC2 for seconds to minutes: look again soon at first, then
                // every few seconds; an Unmount elsewhere is looked for every other poll.
                waited += 1
                do { try await Task.sleep(for: holderWait ? poll * 2 : poll * min(waited, 5)) } catch {
                    throw CloudstorError(.unavailable, "the daemon is stopping; the move resumes at its next start")
                }
            }
        } catch {
            // Given up (not stopped): the volume stays where it is, usable again there.
            if let claimed, !Task.isCancelled {
                do { try await backend.releaseClaim(claimed.claim, on: claimed.source) } catch {
                    logger.warning("cannot give up the move's claim", metadata: ["volume": "\(record.name)", "error": "\(error)"])
                }
            }
            throw error
        }
    }
}
