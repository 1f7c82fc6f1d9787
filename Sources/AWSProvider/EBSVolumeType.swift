/// EBS volume types with AWS's documented limits for CreateVolume. The local
/// provider enforces the same rules, so a volume that works locally works on AWS.
public enum EBSVolumeType: String, CaseIterable, Sendable {
    case standard, gp2, gp3, io1, io2, st1, sc1

    /// Allowed sizes in GiB.
    public var sizeRange: ClosedRange<Int> {
        switch self {
        case .standard: 1...1024
        case .gp2: 1...16_384
        case .gp3: 1...65_536
        case .io1: 4...16_384
        case .io2: 4...65_536
        case .st1, .sc1: 125...16_384
        }
    }

    /// Allowed provisioned IOPS; nil where the type has none.
    public var iopsRange: ClosedRange<Int>? {
        switch self {
        case .gp3: 3000...80_000
        case .io1: 100...64_000
        case .io2: 100...256_000
        case .standard, .gp2, .st1, .sc1: nil
        }
    }

    /// The most IOPS AWS provisions per GiB of size.
    public var maxIOPSPerGiB: Int? {
        switch self {
        case .gp3: 500
        case .io1: 50
        case .io2: 1000
        case .standard, .gp2, .st1, .sc1: nil
        }
    }

    /// Allowed provisioned throughput in MiB/s; nil where the type has none.
    public var throughputRange: ClosedRange<Int>? { self == .gp3 ? 125...2000 : nil }

    /// The most throughput AWS provisions per provisioned IOPS, in MiB/s.
    public var maxThroughputPerIOPS: Double? { self == .gp3 ? 0.25 : nil }

    public var requiresIOPS: Bool { self == .io1 || self == .io2 }
}
