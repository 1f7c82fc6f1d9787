import Synchronization

/// Files by device and inode, shared by the copies of a `LinuxHost`.
final class FileSet: Sendable {
    struct Key: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
    }

    private let keys = Mutex<Set<Key>>([])

    func contains(_ key: Key) -> Bool { keys.withLock { $0.contains(key) } }
    func insert(_ key: Key) { _ = keys.withLock { $0.insert(key) } }
    func remove(_ key: Key) { _ = keys.withLock { $0.remove(key) } }
}
