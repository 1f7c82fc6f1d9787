/// A tag, as EC2 and EFS carry them.
public struct AWSTag: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// A DescribeVolumes/DescribeSnapshots filter: `Name` with any of `values`.
public struct EC2Filter: Sendable, Equatable {
    public var name: String
    public var values: [String]

    public init(_ name: String, _ values: [String]) {
        self.name = name
        self.values = values
    }

    public static func tag(_ key: String, _ value: String) -> EC2Filter { EC2Filter("tag:\(key)", [value]) }
}

public struct EC2Attachment: Sendable, Equatable {
    public var volumeID: String
    public var instanceID: String
    public var device: String
    /// attaching, attached, detaching, detached, busy
    public var state: String
}

public struct EC2Volume: Sendable, Equatable {
    public var volumeID: String
    public var sizeGiB: Int
    public var availabilityZone: String
    /// creating, available, in-use, deleting, deleted, error
    public var state: String
    public var volumeType: String
    public var iops: Int?
    /// gp3: MiB/s.
    public var throughput: Int?
    public var encrypted: Bool
    /// The ARN of the key it is encrypted with.
    public var kmsKeyID: String?
    public var snapshotID: String?
    public var createTime: String
    public var attachments: [EC2Attachment]
    public var tags: [String: String]
}

/// The latest modification of a volume (ModifyVolume), as EC2 reports it.
public struct EC2VolumeModification: Sendable, Equatable {
    public var volumeID: String
    /// modifying, optimizing, completed, failed
    public var state: String
    /// 0-100.
    public var progress: Int
    public var startTime: String
    public var statusMessage: String
}

public struct EC2Snapshot: Sendable, Equatable {
    public var snapshotID: String
    public var volumeID: String
    /// pending, completed, error
    public var state: String
    /// "0%"…"100%"
    public var progress: String
    public var volumeSizeGiB: Int
    public var startTime: String
    public var description: String
    public var tags: [String: String]
}

public struct EC2Instance: Sendable, Equatable {
    public var instanceID: String
    /// pending, running, shutting-down, terminated, stopping, stopped
    public var state: String
    public var availabilityZone: String
    /// device name → volume id
    public var blockDevices: [String: String]
    /// m5.large, …; empty if EC2 did not say.
    public var instanceType: String
    /// Network interfaces attached (the primary one included).
    public var networkInterfaces: Int
}

/// What an instance type allows, as DescribeInstanceTypes says.
public struct EC2InstanceType: Sendable, Equatable {
    public var instanceType: String
    /// EBS volumes the type may have attached, the root volume included; nil if EC2 did not say.
    public var maximumEBSAttachments: Int?
    /// "shared": the attachments are shared with network interfaces beyond the
    /// primary one (Nitro); "dedicated": EBS volumes have their own.
    public var attachmentLimitType: String?
}

/// A page of results and the token for the next one, if any.
public struct EC2Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextToken: String?
}

extension XMLTree {
    var tags: [String: String] {
        Dictionary(items("tagSet").compactMap { item in item.string("key").map { ($0, item.string("value") ?? "") } }, uniquingKeysWith: { $1 })
    }

    func volume() throws(AWSError) -> EC2Volume {
        guard let id = string("volumeId") else { throw EC2Client.malformed("a volume without volumeId") }
        return EC2Volume(
            volumeID: id, sizeGiB: Int(string("size") ?? "") ?? 0, availabilityZone: string("availabilityZone") ?? "",
            state: string("status") ?? "", volumeType: string("volumeType") ?? "", iops: string("iops").flatMap(Int.init),
            throughput: string("throughput").flatMap(Int.init), encrypted: string("encrypted") == "true",
            kmsKeyID: string("kmsKeyId").flatMap { $0.isEmpty ? nil : $0 },
            snapshotID: string("snapshotId").flatMap { $0.isEmpty ? nil : $0 }, createTime: string("createTime") ?? "",
            attachments: items("attachmentSet").map(\.attachment), tags: tags)
    }

    var attachment: EC2Attachment {
        EC2Attachment(
            volumeID: string("volumeId") ?? "", instanceID: string("instanceId") ?? "", device: string("device") ?? "",
            state: string("status") ?? "")
    }

    func snapshot() throws(AWSError) -> EC2Snapshot {
        guard let id = string("snapshotId") else { throw EC2Client.malformed("a snapshot without snapshotId") }
        return EC2Snapshot(
            snapshotID: id, volumeID: string("volumeId") ?? "", state: string("status") ?? "", progress: string("progress") ?? "",
            volumeSizeGiB: Int(string("volumeSize") ?? "") ?? 0, startTime: string("startTime") ?? "",
            description: string("description") ?? "", tags: tags)
    }

    func volumeModification() throws(AWSError) -> EC2VolumeModification {
        guard let id = string("volumeId") else { throw EC2Client.malformed("a volume modification without volumeId") }
        return EC2VolumeModification(
            volumeID: id, state: string("modificationState") ?? "", progress: Int(string("progress") ?? "") ?? 0,
            startTime: string("startTime") ?? "", statusMessage: string("statusMessage") ?? "")
    }

    func instance() throws(AWSError) -> EC2Instance {
        guard let id = string("instanceId") else { throw EC2Client.malformed("an instance without instanceId") }
        var devices: [String: String] = [:]
        for item in items("blockDeviceMapping") {
            if let name = item.string("deviceName"), let volume = item.child("ebs")?.string("volumeId") { devices[name] = volume }
        }
        return EC2Instance(
            instanceID: id, state: child("instanceState")?.string("name") ?? "",
            availabilityZone: child("placement")?.string("availabilityZone") ?? "", blockDevices: devices,
            instanceType: string("instanceType") ?? "", networkInterfaces: items("networkInterfaceSet").count)
    }

    func instanceType() throws(AWSError) -> EC2InstanceType {
        guard let name = string("instanceType") else { throw EC2Client.malformed("an instance type without instanceType") }
        let ebs = child("ebsInfo")
        return EC2InstanceType(
            instanceType: name, maximumEBSAttachments: ebs?.string("maximumEbsAttachments").flatMap(Int.init),
            attachmentLimitType: ebs?.string("attachmentLimitType"))
    }
}
