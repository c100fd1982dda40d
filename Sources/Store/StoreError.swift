import Foundation
internal import GRDB
internal import GRDBSQLite

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

extension StoreError {
    /// Maps a GRDB/SQLite error to a store error that says what was being done.
    /// - Parameter writable: the file is one overdued writes (the state database): a read-only
    ///   file system under it is worth naming, as a disk error may have made it so.
    static func from(_ error: any Error, path: String, doing action: String, writable: Bool = true) -> StoreError {
        if let error = error as? StoreError {
            return StoreError(error.kind, path: error.path.isEmpty ? path : error.path, message: error.message)
        }
        if let error = error as? DatabaseError {
            let detail = error.message ?? "\(error.resultCode)"
            switch error.resultCode.primaryResultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(.busy, path: path, message: "could not \(action): the database is locked (\(detail))")
            case .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_READONLY:
                let code = error.resultCode.primaryResultCode
                if let full = fullFileSystem(holding: path) {
                    // SQLite says "disk I/O error" when it cannot size its -shm on a full disk, and
                    // "unable to open database file" when it cannot create a -wal without an inode.
                    return StoreError(.full, path: path, message: "could not \(action): \(detail): the file system holding it is \(full); free some")
                }
                if error.extendedResultCode == .SQLITE_IOERR_SHMSIZE, fileSystemIsNearlyFull(holding: path) {
                    // Sizing the -shm fails on a full file system, and the failed open removes
                    // what it had made, so space may show again by the time it is looked at.
                    return StoreError(.full, path: path, message: "could not \(action): \(detail): SQLite could not size the -shm file beside "
                        + "it, as on a file system that is full; free some")
                }
                let kind: StoreError.Kind = switch code {
                case .SQLITE_CANTOPEN: .cannotOpen
                case .SQLITE_FULL: .full
                case .SQLITE_IOERR: .io
                default: .other
                }
                if writable, code != .SQLITE_CANTOPEN, fileSystemIsReadOnly(holding: path) {
                    return StoreError(kind, path: path, message: "could not \(action): \(detail): the file system holding it is read-only "
                        + "(mounted so, or remounted so by the kernel after a disk error: see `dmesg`)")
                }
                return StoreError(kind, path: path, message: "could not \(action): \(detail)")
            case .SQLITE_NOTADB, .SQLITE_PERM, .SQLITE_AUTH:
                return StoreError(.cannotOpen, path: path, message: "could not \(action): \(detail)")
            case .SQLITE_INTERRUPT:
                return StoreError(.interrupted, path: path, message: "could not \(action): interrupted: overdued is stopping")
            case .SQLITE_CORRUPT:
                return StoreError(.corrupt, path: path, message: "could not \(action): \(detail): the file is damaged; restore it from a backup, or rescue what it holds with `sqlite3 \(path) .dump | sed '$s/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 NEW_FILE` (a damaged file's dump ends in ROLLBACK, which keeps nothing), and put NEW_FILE in its place with no -wal or -shm of the old file left beside it")
            default:
                return StoreError(.other, path: path, message: "could not \(action): \(detail)")
            }
        }
        return StoreError(.other, path: path, message: "could not \(action): \(error)")
    }

    /// How the file system of `path`'s folder is full for this user ("full (no space left)",
    /// "out of inodes (no file can be created)"), or nil.
    static func fullFileSystem(holding path: String) -> String? {
        guard let info = fileSystem(holding: path) else { return nil }
        if info.f_bavail == 0 { return "full (no space left)" }
        if info.f_files > 0, info.f_favail == 0 { return "out of inodes (no file can be created, though space is left)" }
        return nil
    }

    /// Less than 1 MiB left for this user: what a full file system shows once SQLite has
    /// removed the -shm it could not size (an I/O error on a roomy one is no full disk).
    static func fileSystemIsNearlyFull(holding path: String) -> Bool {
        fileSystem(holding: path).map { UInt64($0.f_bavail) * UInt64($0.f_frsize) < 1 << 20 } ?? false
    }

    static func fileSystemIsReadOnly(holding path: String) -> Bool {
        if fileSystem(holding: path).map({ $0.f_flag & UInt(ST_RDONLY) != 0 }) ?? false { return true }
        // A kernel that stops writes after a disk error (ext4's emergency read-only) may leave
        // the mount's flag as it was: the folder refuses writes with EROFS all the same.
        let folder = (path as NSString).deletingLastPathComponent
        return access(folder.isEmpty ? "." : folder, W_OK) != 0 && errno == EROFS
    }

    private static func fileSystem(holding path: String) -> statvfs? {
        var info = statvfs()
        let folder = (path as NSString).deletingLastPathComponent
        return statvfs(folder.isEmpty ? "." : folder, &info) == 0 ? info : nil
    }
}
