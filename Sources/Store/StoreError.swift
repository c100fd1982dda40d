/// A store failure with what was being done and on which file.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file is missing, unreadable, or not a database.
        case cannotOpen
        /// The database was locked longer than the busy timeout; try again next tick.
        case busy
        /// The schema lacks a table or column overdued needs.
        case schema
        /// The file is damaged (SQLite: "database disk image is malformed"); it does not heal
        /// by waiting.
        case corrupt
        /// SQLite could not read or write the file ("disk I/O error"): a failing disk, or a
        /// connection whose -wal and -shm were deleted behind it.
        case io
        /// The file system holding the file has no space (or no inode) left for this user:
        /// waiting heals it once space is freed.
        case full
        /// Another process holds what this one needs alone (the delivery lock).
        case inUse
        /// The work was stopped part-way (`TickProgress.interrupt()`, the daemon stopping);
        /// nothing it would have written was.
        case interrupted
        case other
    }

    public var kind: Kind
    public var path: String
    public var message: String

    public init(_ kind: Kind, path: String, message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
