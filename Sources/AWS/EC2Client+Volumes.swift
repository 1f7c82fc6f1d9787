extension EC2Client {
    public struct CreateVolumeInput: Sendable {
        public var availabilityZone: String
        public var sizeGiB: Int?
        public var volumeType: String
        public var iops: Int?
        /// gp3 only, MiB/s.
        public var throughput: Int?
        /// Encrypted (with `kmsKeyID`, else the account's default key); nil: as the
        /// account's encryption by default says.
        public var encrypted: Bool?
        public var kmsKeyID: String?
        public var snapshotID: String?
        public var tags: [AWSTag]
        /// Makes a retried create idempotent: the same token returns the same volume.
        public var clientToken: String

        public init(
            availabilityZone: String, sizeGiB: Int?, volumeType: String, iops: Int? = nil, throughput: Int? = nil,
            encrypted: Bool? = nil, kmsKeyID: String? = nil, snapshotID: String? = nil, tags: [AWSTag] = [], clientToken: String
        ) {
            self.throughput = throughput
            self.encrypted = encrypted
            self.kmsKeyID = kmsKeyID
            self.availabilityZone = availabilityZone
            self.sizeGiB = sizeGiB
            self.volumeType = volumeType
            self.iops = iops
            self.snapshotID = snapshotID
            self.tags = tags
            self.clientToken = clientToken
        }
    }

    public func createVolume(_ input: CreateVolumeInput) async throws(AWSError) -> EC2Volume {
        var parameters = [("AvailabilityZone", input.availabilityZone), ("VolumeType", input.volumeType), ("ClientToken", input.clientToken)]
        if let size = input.sizeGiB { parameters.append(("Size", String(size))) }
        if let iops = input.iops { parameters.append(("Iops", String(iops))) }
        if let throughput = input.throughput { parameters.append(("Throughput", String(throughput))) }
        if input.encrypted == true { parameters.append(("Encrypted", "true")) }
        if let key = input.kmsKeyID { parameters.append(("KmsKeyId", key)) }
        if let snapshot = input.snapshotID { parameters.append(("SnapshotId", snapshot)) }
        parameters += Self.tagSpecification("volume", input.tags)
        let reply = try await call("CreateVolume", parameters, mutating: true)
        return try reply.volume()
    }

    /// Changes a volume's size, type, IOPS or throughput (those given); EC2 applies
    /// it in the background (`describeVolumesModifications`).
    public func modifyVolume(
        volumeID: String, sizeGiB: Int?, volumeType: String?, iops: Int?, throughput: Int?
    ) async throws(AWSError) -> EC2VolumeModification {
        var parameters = [("VolumeId", volumeID)]
        if let sizeGiB { parameters.append(("Size", String(sizeGiB))) }
        if let volumeType { parameters.append(("VolumeType", volumeType)) }
        if let iops { parameters.append(("Iops", String(iops))) }
        if let throughput { parameters.append(("Throughput", String(throughput))) }
        let reply = try await call("ModifyVolume", parameters, mutating: true)
        guard let modification = reply.child("volumeModification") else { throw Self.malformed("ModifyVolume without volumeModification") }
        return try modification.volumeModification()
    }

    /// One page of the latest modification of each volume named (or of every volume
    /// the filters match).
    public func describeVolumesModifications(
        ids: [String] = [], filters: [EC2Filter] = [], maxResults: Int? = nil, nextToken: String? = nil
    ) async throws(AWSError) -> EC2Page<EC2VolumeModification> {
        var parameters = ids.enumerated().map { ("VolumeId.\($0.offset + 1)", $0.element) } + Self.filterParameters(filters)
        if let maxResults { parameters.append(("MaxResults", String(maxResults))) }
        if let nextToken { parameters.append(("NextToken", nextToken)) }
        let reply = try await call("DescribeVolumesModifications", parameters, mutating: false)
        var found: [EC2VolumeModification] = []
        for item in reply.items("volumeModificationSet") { found.append(try item.volumeModification()) }
        return EC2Page(items: found, nextToken: reply.string("nextToken").flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Whether the account encrypts new EBS volumes by default, in this region.
    public func ebsEncryptionByDefault() async throws(AWSError) -> Bool {
        try await call("GetEbsEncryptionByDefault", [], mutating: false).string("ebsEncryptionByDefault") == "true"
    }

    /// One page of volumes matching every filter (and the ids, if any).
    public func describeVolumes(
        ids: [String] = [], filters: [EC2Filter] = [], maxResults: Int? = nil, nextToken: String? = nil
    ) async throws(AWSError) -> EC2Page<EC2Volume> {
        var parameters = ids.enumerated().map { ("VolumeId.\($0.offset + 1)", $0.element) } + Self.filterParameters(filters)
        if let maxResults { parameters.append(("MaxResults", String(maxResults))) }
        if let nextToken { parameters.append(("NextToken", nextToken)) }
        let reply = try await call("DescribeVolumes", parameters, mutating: false)
        var volumes: [EC2Volume] = []
        for item in reply.items("volumeSet") { volumes.append(try item.volume()) }
        return EC2Page(items: volumes, nextToken: reply.string("nextToken").flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every volume matching the filters, all pages.
    public func describeAllVolumes(filters: [EC2Filter], pageSize: Int = 500) async throws(AWSError) -> [EC2Volume] {
        try await Self.allPages { (token) async throws(AWSError) in
            try await describeVolumes(filters: filters, maxResults: pageSize, nextToken: token)
        }
    }

    public func attachVolume(volumeID: String, instanceID: String, device: String) async throws(AWSError) -> EC2Attachment {
        let reply = try await call(
            "AttachVolume", [("VolumeId", volumeID), ("InstanceId", instanceID), ("Device", device)], mutating: true)
        return reply.attachment
    }

    /// Always sends the instance id (moto answers 500 without it); `force` as a
    /// hypervisor yank, for an instance that is gone.
    public func detachVolume(volumeID: String, instanceID: String, force: Bool = false) async throws(AWSError) -> EC2Attachment {
        var parameters = [("VolumeId", volumeID), ("InstanceId", instanceID)]
        if force { parameters.append(("Force", "true")) }
        let reply = try await call("DetachVolume", parameters, mutating: true)
        return reply.attachment
    }

    public func deleteVolume(volumeID: String) async throws(AWSError) {
        _ = try await call("DeleteVolume", [("VolumeId", volumeID)], mutating: true)
    }
}
