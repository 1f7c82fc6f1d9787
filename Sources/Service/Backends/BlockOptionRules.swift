/// The options of relocatable volumes, as their provider declares them: the keys,
/// their rules, their defaults. The core knows only a volume's backing and size;
/// everything else is the provider's (EBS: type, IOPS, throughput, encryption,
/// the snapshot a volume is made from).
public protocol BlockOptionRules: Sendable {
    /// Every key relocatable volumes take, besides `backing`.
    var keys: [String] { get }
    /// The keys Modify may change.
    var modifiableKeys: [String] { get }
    /// Validates the options of a new volume (without `backing`), every default
    /// spelled out; refused naming the option and what it allows.
    func validate(_ raw: [String: String]) throws(CloudstorError) -> BlockOptions
    /// The options of an existing volume (`current`, as stored) with `changes`
    /// applied, validated as a whole; `sizeGiB` is the volume's size now, which
    /// its options may not say (a volume made from a snapshot).
    func modify(_ current: [String: String], with changes: [String: String], sizeGiB: Int) throws(CloudstorError) -> BlockOptions
}

/// A relocatable volume's options, validated by its provider's rules.
public struct BlockOptions: Equatable, Sendable {
    /// As stored and shown (without `backing`), every default spelled out.
    public var values: [String: String]
    /// The size in GiB; nil when the provider takes it from elsewhere (a snapshot's).
    public var sizeGiB: Int?

    public init(values: [String: String], sizeGiB: Int?) {
        self.values = values
        self.sizeGiB = sizeGiB
    }
}
