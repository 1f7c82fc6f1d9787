/// The next step of a move into this node's zone.
public enum MoveStep: Sendable, Equatable {
    /// Nothing to move: the volume is in this zone (another node moved it here, or it never left).
    case nothing
    /// The move is committed: point the volume at `target`, then delete what the
    /// move left (the source, if it is still there, and its move snapshots).
    case finish(target: String, source: String?)
    /// Neither the volume nor a committed copy of it exists.
    case lost
    /// Write this claim on the source: from then on no other node mounts it.
    case claim(MoveClaim)
    /// Another running node is moving it: wait for that move.
    case waitForClaimant(String)
    /// A running node holds it mounted: wait for its Unmount.
    case waitForHolder(String)
    /// Clear the holder mark of a node that is not running (detached from it first).
    case clearHolder(String)
    /// Detach the source from that node (forced: the node is not running).
    case detach(node: String, force: Bool)
    /// Start the snapshot that carries the data.
    case startSnapshot
    case waitForSnapshot(percent: Int)
    /// The snapshot failed: the volume stays where it is.
    case snapshotFailed(String)
    /// Create the next generation in this zone from the completed snapshot.
    case createTarget(snapshot: String)
    case waitForTarget(String)
    /// The commit point: mark the source superseded by the target.
    case commit(source: String, target: String)

    /// The phase of a move this step belongs to, as metrics name it
    /// (`cloudstor_moves_in_flight{step}`).
    public var phase: String {
        switch self {
        case .nothing, .finish, .lost: "cleaning_up"
        case .claim, .clearHolder: "claiming"
        case .waitForClaimant: "waiting_for_other_move"
        case .waitForHolder: "waiting_for_unmount"
        case .detach: "detaching"
        case .startSnapshot, .waitForSnapshot, .snapshotFailed: "snapshot"
        case .createTarget, .waitForTarget: "creating_volume"
        case .commit: "switching"
        }
    }

    /// Every phase, and `starting` before the first step.
    public static let phases = [
        "starting", "claiming", "waiting_for_other_move", "waiting_for_unmount", "detaching", "snapshot", "creating_volume", "switching",
        "cleaning_up",
    ]
}

/// The move protocol as a pure function: what exists now (tags and states) and
/// which instances run, in; the next step, out. `Relocator` runs it; every step is
/// idempotent and leaves its mark where every node sees it, so whoever looks next,
/// this node after a crash or another one, picks up where it stopped.
///
/// Invariant: at every instant the latest data is on the source volume, or on a
/// completed snapshot and the target made from it. The snapshot starts only under
/// this node's claim with no running node holding the volume mounted, and nodes
/// mount only volumes no running node claims, so no write can land on the source
/// after the snapshot fixed its content. Nothing is deleted before the commit.
public enum MovePlan {
    /// The instances whose liveness `next` needs: whoever has the source attached,
    /// holds it, or claims it.
    public static func instances(in state: MoveState, node: String) -> Set<String> {
        guard let source = state.source else { return [] }
        return Set([source.attachment?.node, source.holder, source.claim?.node, source.removal?.node].compactMap { $0 }).subtracting([node])
    }

    /// `running`: those of `instances(in:node:)` that run. `newClaimID`: the id a
    /// new claim takes.
    public static func next(_ state: MoveState, node: String, zone: String, running: Set<String>, newClaimID: String) -> MoveStep {
        if let target = state.target, state.committed || state.source == nil {
            return .finish(target: target.id, source: state.source?.id)
        }
        guard let source = state.source else { return .lost }
        if source.zone == zone, state.target == nil, source.movedFrom == nil { return .nothing }
        // A running node removing the volume: waited for (it refuses once it reads this
        // node's claim, or removes the volume). Its mark and this node's claim are two
        // tags, each written before the other is read: one of the two sees the other.
        if let removal = source.removal, removal.node != node, running.contains(removal.node) { return .waitForClaimant(removal.node) }

        // Claim it first. A running node's claim is its move; a stopped one's is taken
        // over as a new attempt: what the old one made may be older than writes since.
        let fresh = MoveClaim(node: node, zone: zone, id: newClaimID)
        guard let claim = source.claim, claim.node == node, claim.zone == zone else {
            if let claim = source.claim, claim.node != node, running.contains(claim.node) { return .waitForClaimant(claim.node) }
            return .claim(fresh)
        }
        // Claimed. A holder mark written before the claim was seen is waited out (its
        // node unmounts, or refuses its Mount once it sees the claim); a dead node's is
        // cleared. One seen once this attempt has a snapshot means a node mounted the
        // volume since, and may have written: the attempt starts over.
        if let holder = source.holder, holder != node {
            if state.snapshot != nil || state.target != nil { return .claim(fresh) }
            if running.contains(holder) { return .waitForHolder(holder) }
            if source.attachment?.node == holder { return .detach(node: holder, force: true) }
            return .clearHolder(holder)
        }

        let attachment = source.attachment.map { (node: $0.node, running: running.contains($0.node)) }
        if let target = state.target {
            guard target.state == "available" else { return .waitForTarget(target.id) }
            // Still detaching from where it was unmounted before the snapshot (a move resumed after a stop).
            if let attachment { return .detach(node: attachment.node, force: !attachment.running) }
            return .commit(source: source.id, target: target.id)
        }
        if let snapshot = state.snapshot {
            switch snapshot.state {
            case "completed": return .createTarget(snapshot: snapshot.id)
            case "error": return .snapshotFailed(snapshot.id)
            default:
                // The content is fixed: the volume detaches while the snapshot runs.
                if let attachment { return .detach(node: attachment.node, force: !attachment.running) }
                return .waitForSnapshot(percent: snapshot.percent)
            }
        }
        // Unmounted on a running node, its data is whole on the volume: the snapshot
        // starts at once. A node that is not running may have died with writes in
        // flight: it is detached (forced) first.
        if let attachment, !attachment.running { return .detach(node: attachment.node, force: true) }
        return .startSnapshot
    }
}
