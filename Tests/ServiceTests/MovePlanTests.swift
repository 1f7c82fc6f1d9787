import Testing

@testable import CloudstorService

/// The move protocol, state by state: node "c" in zone "b" moves a volume from
/// zone "a", where node "a1" had it; "b2" is another node of zone "b".
@Suite struct MovePlanTests {
    static let mine = MoveClaim(node: "c", zone: "b", id: "m1")

    static func source(
        attached: String? = nil, holder: String? = nil, claim: MoveClaim? = mine, zone: String = "a", movedFrom: String? = nil,
        removal: MoveClaim? = nil
    ) -> BlockVolume {
        BlockVolume(
            id: "vol-src", zone: zone, state: attached == nil ? "available" : "in-use",
            attachment: attached.map { BlockAttachment(node: $0, device: "/dev/xvdf", state: "attached") }, holder: holder,
            movedFrom: movedFrom, claim: claim, removal: removal)
    }

    static func removal(by node: String) -> MoveClaim { MoveClaim(node: node, zone: "a", id: MoveClaim.removalPrefix + "r") }

    static func snapshot(_ state: String, _ percent: Int = 0) -> MoveState.Snapshot {
        .init(id: "snap-1", state: state, percent: percent)
    }

    static func target(_ state: String = "available") -> BlockVolume {
        BlockVolume(id: "vol-new", zone: "b", state: state, movedFrom: "vol-src")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var what: String
        var state: MoveState
        var running: Set<String> = ["a1", "b2"]
        var step: MoveStep
        var testDescription: String { what }
    }

    static let cases: [Case] = [
        // Nothing to do, or nothing left.
        Case(what: "in this zone already", state: MoveState(source: source(claim: nil, zone: "b"), snapshot: nil, target: nil, committed: false),
            step: .nothing),
        Case(what: "gone, no copy", state: MoveState(source: nil, snapshot: nil, target: nil, committed: false), step: .lost),
        // The claim comes first, before anything else is done or waited for.
        Case(what: "unclaimed, attached to a running node: claim", state: MoveState(source: source(attached: "a1", claim: nil), snapshot: nil, target: nil, committed: false),
            step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        Case(what: "unclaimed, held on a running node: claim, then wait", state: MoveState(source: source(attached: "a1", holder: "a1", claim: nil), snapshot: nil, target: nil, committed: false),
            step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        Case(what: "claimed by a running node of this zone: wait for its move",
            state: MoveState(source: source(claim: MoveClaim(node: "b2", zone: "b", id: "x")), snapshot: nil, target: nil, committed: false),
            step: .waitForClaimant("b2")),
        Case(what: "claimed by a running node of another zone: wait for its move",
            state: MoveState(source: source(claim: MoveClaim(node: "a1", zone: "a", id: "x")), snapshot: nil, target: nil, committed: false),
            step: .waitForClaimant("a1")),
        Case(what: "claimed by a stopped node of this zone: a new attempt (its snapshot may predate writes since)",
            state: MoveState(source: source(claim: MoveClaim(node: "b2", zone: "b", id: "x")), snapshot: snapshot("pending"), target: nil, committed: false),
            running: ["a1"], step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        Case(what: "claimed by a stopped node of another zone: a new attempt",
            state: MoveState(source: source(claim: MoveClaim(node: "d", zone: "z", id: "x")), snapshot: nil, target: nil, committed: false),
            running: ["a1"], step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        // A running node removing it is waited for, claimed or not; a stopped one's mark is not.
        Case(what: "unclaimed, a running node removes it: wait",
            state: MoveState(source: source(claim: nil, removal: removal(by: "a1")), snapshot: nil, target: nil, committed: false),
            step: .waitForClaimant("a1")),
        Case(what: "claimed, a running node removes it (it refuses once it reads the claim): wait",
            state: MoveState(source: source(removal: removal(by: "b2")), snapshot: snapshot("completed", 100), target: nil, committed: false),
            step: .waitForClaimant("b2")),
        Case(what: "a stopped node's removal mark holds nothing: claim",
            state: MoveState(source: source(claim: nil, removal: removal(by: "d")), snapshot: nil, target: nil, committed: false),
            running: ["a1"], step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        // Claimed: a holder is waited out; a holder that is not running is not.
        Case(what: "claimed, held on a running node: wait for its Unmount",
            state: MoveState(source: source(attached: "a1", holder: "a1"), snapshot: nil, target: nil, committed: false), step: .waitForHolder("a1")),
        Case(what: "claimed, held (mark only, before its attach) on a running node: wait",
            state: MoveState(source: source(holder: "a1"), snapshot: nil, target: nil, committed: false), step: .waitForHolder("a1")),
        Case(what: "claimed, held on a stopped node: force it off",
            state: MoveState(source: source(attached: "a1", holder: "a1"), snapshot: nil, target: nil, committed: false), running: [],
            step: .detach(node: "a1", force: true)),
        Case(what: "claimed, held by a stopped node, detached: clear its mark",
            state: MoveState(source: source(holder: "a1"), snapshot: nil, target: nil, committed: false), running: [], step: .clearHolder("a1")),
        Case(what: "claimed, held by a stopped node, attached to another running one: clear the mark first",
            state: MoveState(source: source(attached: "a2", holder: "a1"), snapshot: nil, target: nil, committed: false), running: ["a2"],
            step: .clearHolder("a1")),
        // The snapshot.
        Case(what: "claimed, unheld, attached to a running node: snapshot first (its data is whole)",
            state: MoveState(source: source(attached: "a1"), snapshot: nil, target: nil, committed: false), step: .startSnapshot),
        Case(what: "claimed, detached: snapshot", state: MoveState(source: source(), snapshot: nil, target: nil, committed: false), step: .startSnapshot),
        Case(what: "snapshot pending, still attached: detach meanwhile",
            state: MoveState(source: source(attached: "a1"), snapshot: snapshot("pending", 10), target: nil, committed: false),
            step: .detach(node: "a1", force: false)),
        Case(what: "snapshot pending, detached: wait", state: MoveState(source: source(), snapshot: snapshot("pending", 40), target: nil, committed: false),
            step: .waitForSnapshot(percent: 40)),
        Case(what: "snapshot failed", state: MoveState(source: source(), snapshot: snapshot("error"), target: nil, committed: false),
            step: .snapshotFailed("snap-1")),
        Case(what: "snapshot completed: create the copy", state: MoveState(source: source(), snapshot: snapshot("completed", 100), target: nil, committed: false),
            step: .createTarget(snapshot: "snap-1")),
        // The copy and the commit.
        Case(what: "copy creating: wait", state: MoveState(source: source(), snapshot: snapshot("completed", 100), target: target("creating"), committed: false),
            step: .waitForTarget("vol-new")),
        Case(what: "copy available: commit", state: MoveState(source: source(), snapshot: snapshot("completed", 100), target: target(), committed: false),
            step: .commit(source: "vol-src", target: "vol-new")),
        Case(what: "copy available, source still attached (a resumed move): detach first",
            state: MoveState(source: source(attached: "a1"), snapshot: snapshot("completed", 100), target: target(), committed: false),
            step: .detach(node: "a1", force: false)),
        Case(what: "copy available, held again on a running node: start over, never commit over it",
            state: MoveState(source: source(attached: "a1", holder: "a1"), snapshot: snapshot("completed", 100), target: target(), committed: false),
            step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        Case(what: "snapshot taken, then held by a node that died: start over (it may have written)",
            state: MoveState(source: source(attached: "a1", holder: "a1"), snapshot: snapshot("pending", 50), target: nil, committed: false),
            running: [], step: .claim(MoveClaim(node: "c", zone: "b", id: "new"))),
        Case(what: "copy available, another node's claim: its move, not ours",
            state: MoveState(source: source(claim: MoveClaim(node: "b2", zone: "b", id: "x")), snapshot: nil, target: nil, committed: false),
            step: .waitForClaimant("b2")),
        // After the commit: finish, whoever looks.
        Case(what: "committed: finish", state: MoveState(source: source(), snapshot: snapshot("completed", 100), target: target(), committed: true),
            step: .finish(target: "vol-new", source: "vol-src")),
        Case(what: "committed under another node's claim: finish all the same",
            state: MoveState(source: source(claim: MoveClaim(node: "b2", zone: "b", id: "x")), snapshot: nil, target: target(), committed: true),
            step: .finish(target: "vol-new", source: "vol-src")),
        Case(what: "committed, source deleted: finish", state: MoveState(source: nil, snapshot: nil, target: target(), committed: true),
            step: .finish(target: "vol-new", source: nil)),
        Case(what: "the moved copy lives here, not cleaned up: finish",
            state: MoveState(source: nil, snapshot: snapshot("completed", 100), target: target(), committed: true),
            step: .finish(target: "vol-new", source: nil)),
    ]

    @Test(arguments: cases) func nextStep(_ c: Case) {
        #expect(MovePlan.next(c.state, node: "c", zone: "b", running: c.running, newClaimID: "new") == c.step)
    }

    /// Whatever the state, the snapshot never starts, and the commit never happens,
    /// while a running node other than the mover holds the volume or another running
    /// node claims it; and nothing is done but claiming before this node's claim stands.
    @Test func noStepRacesAWriterOrAnotherMover() {
        let nodes: [String?] = [nil, "a1", "c"]
        let claims: [MoveClaim?] = [nil, Self.mine, MoveClaim(node: "b2", zone: "b", id: "x"), MoveClaim(node: "a1", zone: "a", id: "y")]
        let snapshots: [MoveState.Snapshot?] = [nil, Self.snapshot("pending", 5), Self.snapshot("completed", 100), Self.snapshot("error")]
        let targets: [BlockVolume?] = [nil, Self.target("creating"), Self.target()]
        let runnings: [Set<String>] = [[], ["a1"], ["b2"], ["a1", "b2"]]
        let removals: [MoveClaim?] = [nil, Self.removal(by: "b2"), Self.removal(by: "a1")]
        var checked = 0
        for attached in nodes where attached != "c" {
            for holder in nodes {
                for claim in claims {
                  for removal in removals {
                    for snap in snapshots {
                        for tgt in targets {
                            for running in runnings {
                                let state = MoveState(
                                    source: Self.source(attached: attached, holder: holder, claim: claim, removal: removal), snapshot: snap, target: tgt,
                                    committed: false)
                                let step = MovePlan.next(state, node: "c", zone: "b", running: running, newClaimID: "new")
                                checked += 1
                                let ownClaim = claim == Self.mine
                                switch step {
                                case .startSnapshot, .commit, .createTarget:
                                    #expect(ownClaim, "\(step) without this node's claim: \(state)")
                                    if let holder { #expect(holder == "c", "\(step) while \(holder)'s mark is there: \(state)") }
                                    if let removal { #expect(!running.contains(removal.node), "\(step) while \(removal.node) removes it: \(state)") }
                                case .detach, .clearHolder:
                                    #expect(ownClaim, "\(step) without this node's claim: \(state)")
                                    if let holder, holder != "c" { #expect(!running.contains(holder), "\(step) while \(holder) holds it: \(state)") }
                                case .claim(let new):
                                    if let claim, claim.node != "c" { #expect(!running.contains(claim.node), "took the claim of running \(claim.node)") }
                                    #expect(new == MoveClaim(node: "c", zone: "b", id: "new"), "a claim that reuses an attempt: \(new)")
                                default:
                                    break
                                }
                                if case .detach(_, let force) = step, force, let attached { #expect(!running.contains(attached), "forced off a running node") }
                            }
                        }
                    }
                  }
                }
            }
        }
        #expect(checked == 2 * 3 * 4 * 3 * 4 * 3 * 4)
    }

    @Test func onlyTheInstancesThatMatterAreAskedAbout() {
        let state = MoveState(
            source: Self.source(attached: "a1", holder: "a2", claim: MoveClaim(node: "b2", zone: "b", id: "x"), removal: Self.removal(by: "d")),
            snapshot: nil, target: nil, committed: false)
        #expect(MovePlan.instances(in: state, node: "c") == ["a1", "a2", "b2", "d"])
        #expect(MovePlan.instances(in: MoveState(source: Self.source(), snapshot: nil, target: nil, committed: false), node: "c") == [])
    }

    @Test func claimsReadBackFromTheirTag() {
        let claim = MoveClaim(node: "i-0abc", zone: "us-east-1b", id: "3f9a")
        #expect(MoveClaim(tag: claim.tag) == claim)
        #expect(MoveClaim(tag: "i-0abc/us-east-1b") == nil)
        #expect(MoveClaim(tag: "i-0abc//x") == nil)
        #expect(MoveClaim(tag: "") == nil)
    }

    /// Every step belongs to a phase the metrics list (a scrape reports each, zero included).
    @Test func everyStepHasAListedPhase() {
        let steps: [MoveStep] = [
            .nothing, .finish(target: "t", source: nil), .lost, .claim(Self.mine), .waitForClaimant("x"), .waitForHolder("x"),
            .clearHolder("x"), .detach(node: "x", force: false), .startSnapshot, .waitForSnapshot(percent: 1), .snapshotFailed("s"),
            .createTarget(snapshot: "s"), .waitForTarget("t"), .commit(source: "s", target: "t"),
        ]
        #expect(Set(steps.map(\.phase)).union(["starting"]) == Set(MoveStep.phases))
        #expect(MoveStep.phases.count == Set(MoveStep.phases).count)
    }
}
