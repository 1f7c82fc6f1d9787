import Foundation

/// Shared volumes of the local provider: directories under one root.
public struct DirectoryBackend: SharedBackend {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public func create(name: String, options: VolumeOptions) async throws(CloudstorError) -> String {
        let path = "\(root)/\(name)"
        try makeDirectory(path)
        return path
    }

    public func remove(id: String) async throws(CloudstorError) {
        guard FileManager.default.fileExists(atPath: id) else { return }
        do {
            try FileManager.default.removeItem(atPath: id)
        } catch {
            throw CloudstorError(.internalError, "remove directory \(id)", cause: error)
        }
    }

    public func mount(id: String) async throws(CloudstorError) -> String {
        // Recreated if someone removed it behind our back: never hand Docker a missing path.
        try makeDirectory(id)
        return id
    }

    private func makeDirectory(_ path: String) throws(CloudstorError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CloudstorError(.internalError, "create directory \(path)", cause: error)
        }
    }
}
