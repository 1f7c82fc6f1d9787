extension EC2Client {
    public func createSnapshot(volumeID: String, description: String = "", tags: [AWSTag] = []) async throws(AWSError) -> EC2Snapshot {
        var parameters = [("VolumeId", volumeID)]
        if !description.isEmpty { parameters.append(("Description", description)) }
        parameters += Self.tagSpecification("snapshot", tags)
        let reply = try await call("CreateSnapshot", parameters, mutating: true)
        return try reply.snapshot()
    }

    /// One page of this account's snapshots matching the filters (and ids, if any).
    public func describeSnapshots(
        ids: [String] = [], filters: [EC2Filter] = [], maxResults: Int? = nil, nextToken: String? = nil
    ) async throws(AWSError) -> EC2Page<EC2Snapshot> {
        var parameters = [("Owner.1", "self")]
        parameters += ids.enumerated().map { ("SnapshotId.\($0.offset + 1)", $0.element) } + Self.filterParameters(filters)
        if let maxResults { parameters.append(("MaxResults", String(maxResults))) }
        if let nextToken { parameters.append(("NextToken", nextToken)) }
        let reply = try await call("DescribeSnapshots", parameters, mutating: false)
        var snapshots: [EC2Snapshot] = []
        for item in reply.items("snapshotSet") { snapshots.append(try item.snapshot()) }
        return EC2Page(items: snapshots, nextToken: reply.string("nextToken").flatMap { $0.isEmpty ? nil : $0 })
    }

    public func deleteSnapshot(snapshotID: String) async throws(AWSError) {
        _ = try await call("DeleteSnapshot", [("SnapshotId", snapshotID)], mutating: true)
    }

    public func createTags(resourceIDs: [String], tags: [AWSTag]) async throws(AWSError) {
        var parameters = resourceIDs.enumerated().map { ("ResourceId.\($0.offset + 1)", $0.element) }
        for (i, tag) in tags.enumerated() {
            parameters.append(("Tag.\(i + 1).Key", tag.key))
            parameters.append(("Tag.\(i + 1).Value", tag.value))
        }
        _ = try await call("CreateTags", parameters, mutating: true)
    }

    /// Deletes the tags with these keys, whatever their values.
    public func deleteTags(resourceIDs: [String], keys: [String]) async throws(AWSError) {
        var parameters = resourceIDs.enumerated().map { ("ResourceId.\($0.offset + 1)", $0.element) }
        parameters += keys.enumerated().map { ("Tag.\($0.offset + 1).Key", $0.element) }
        _ = try await call("DeleteTags", parameters, mutating: true)
    }

    /// Deletes each tag only where it still has this value (EC2 leaves a tag whose
    /// value differs): a compare-and-delete.
    public func deleteTags(resourceIDs: [String], matching tags: [AWSTag]) async throws(AWSError) {
        var parameters = resourceIDs.enumerated().map { ("ResourceId.\($0.offset + 1)", $0.element) }
        for (i, tag) in tags.enumerated() {
            parameters.append(("Tag.\(i + 1).Key", tag.key))
            parameters.append(("Tag.\(i + 1).Value", tag.value))
        }
        _ = try await call("DeleteTags", parameters, mutating: true)
    }

    public func describeInstanceTypes(_ types: [String]) async throws(AWSError) -> [EC2InstanceType] {
        let parameters = types.enumerated().map { ("InstanceType.\($0.offset + 1)", $0.element) }
        let reply = try await call("DescribeInstanceTypes", parameters, mutating: false)
        var found: [EC2InstanceType] = []
        for item in reply.items("instanceTypeSet") { found.append(try item.instanceType()) }
        return found
    }

    public func describeInstances(ids: [String]) async throws(AWSError) -> [EC2Instance] {
        let parameters = ids.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) }
        let reply = try await call("DescribeInstances", parameters, mutating: false)
        var instances: [EC2Instance] = []
        for reservation in reply.items("reservationSet") {
            for item in reservation.items("instancesSet") { instances.append(try item.instance()) }
        }
        return instances
    }
}
