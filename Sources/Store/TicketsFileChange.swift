import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What became of the tickets database's file since the connection last looked at it.
public enum TicketsFileChange: Sendable, Equatable {
    /// Nothing to open again for: the same file, unchanged or changed by commits that SQLite
    /// sees (`data_version` moved; the connection reads them).
    case unchanged
    /// Another file is at the path (a new export renamed over it, or the file deleted and
    /// created again); the connection still reads the old one.
    case replaced
    /// The same file (device and inode) rewritten behind SQLite's back, as
    /// `cp new.sqlite tickets.sqlite` does: its size or modification time changed while
    /// `data_version` did not. SQLite, which detects a change by the file's header, may keep
    /// reading its cached pages and never report one; only a new connection reads it afresh.
    case overwrittenInPlace
    /// No file at the path (deleted, or moved away): the connection still reads the file it
    /// has open, which the app no longer writes.
    case missing
    /// A WAL database read while the app had it closed (`ReadMode.closedWAL`) was opened by
    /// the app since (its -shm file is there) or changed: a new connection reads it as it is
    /// now, through the app's -wal and -shm files when they are there.
    case walReopened
    /// The same file, whose tables the app changed by a commit (`schema_version` moved: a
    /// column added, dropped or renamed, as a migration or `sqlite3 .restore` of another
    /// export does): the columns overdued reads were taken at the open, so a new connection
    /// looks at them again (a `deleted_at` added is then used, one dropped no longer read).
    case schemaChanged
    /// The WAL database's -shm file (the index of the -wal that every reader shares) is not the
    /// one this connection maps: deleted (by hand, after the app crashed, say) and made anew
    /// by the app. The connection reads a stale index from then on and misses the app's
    /// commits, or fails with I/O errors; only a new connection, with this one closed first
    /// (`TicketsDatabase.close`), reads the file as it is.
    case walIndexReplaced
    /// The app switched the database from a rollback journal to WAL since the connection was
    /// opened, and closed it (no -shm is there): read through this connection, SQLite would
    /// create the -wal and -shm, wherever overdued may write, and hold them open. A new
    /// connection reads the file as it stands, creating nothing.
    case switchedToWAL
    /// The connection cannot read the file's change counter any more (an I/O error, say):
    /// a new connection may.
    case unreadable
    /// `stat` of the path fails otherwise than "no such file" (a folder on the way no longer
    /// searchable, a symbolic link loop): whether another file is there cannot be told; the
    /// connection still reads the file it has open. With the reason, in words.
    case unexaminable(String)
}

extension TicketsDatabase {
    /// The file at `path` as `lastSeen` keeps it.
    struct SeenFile: Sendable {
        var stamp: FileStamp
        var dataVersion: Int64
        /// The -shm file the connection maps (WAL mode, read `.shared`); nil without one.
        var walIndex: FileIdentity?
    }

    /// What became of the file at `path` since this connection last looked: one `stat` when
    /// nothing did. A changed size or modification time of the same file is an app commit when
    /// `data_version` moved too (the change is then remembered as seen), else an overwrite.
    /// Unchanged when the path cannot be examined now (no permission on a folder, say). A WAL
    /// checkpoint by the app, which changes the file without a commit, also reads as an
    /// overwrite: one fresh read.
    public func fileChange() -> TicketsFileChange {
        let current: FileStamp
        switch FileStamp.look(at: path) {
        case .missing: return .missing
        case .unexaminable(let reason): return .unexaminable(reason)
        case .file(let stamp): current = stamp
        }
        guard var seen = lastSeen.withLock({ $0 }) else { return .unchanged }
        if current.identity != seen.stamp.identity { return .replaced }
        if readMode == .closedWAL {
            return current == seen.stamp && !FileManager.default.fileExists(atPath: SQLiteFile.companion(of: path, "-shm")) ? .unchanged : .walReopened
        }
        // One more `stat`: while this connection is open, SQLite never removes the -shm it
        // maps, so another file there (or none) was made behind its back.
        if let mapped = seen.walIndex {
            if FileIdentity(path: SQLiteFile.companion(of: path, "-shm")) != mapped { return .walIndexReplaced }
        } else if readMode == .shared, let shm = FileIdentity(path: SQLiteFile.companion(of: path, "-shm")), SQLiteFile.isWAL(path) {
            // Switched to WAL by the app since the open: the connection maps this -shm from its
            // next read on (this one's), and it is the one to watch from now on.
            lastSeen.withLock { $0?.walIndex = shm }
            seen.walIndex = shm
        } else if readMode == .shared, current != seen.stamp, SQLiteFile.isWAL(path) {
            // Switched to WAL and closed by the app (no -shm): looked at before any read here.
            return .switchedToWAL
        }
        if current == seen.stamp { return .unchanged }
        // The stat came first: a copy landing between it and this read is seen next time.
        let version: Int64
        do {
            version = try dataVersion()
        } catch {
            // Busy is no reason to start again (the tick's read waits, and says so).
            return error.kind == .busy || error.kind == .interrupted ? .unchanged : .unreadable
        }
        guard version == seen.dataVersion else {
            lastSeen.withLock { $0 = SeenFile(stamp: current, dataVersion: version, walIndex: seen.walIndex) }
            return .unchanged
        }
        return .overwrittenInPlace
    }
}

/// A file's device and inode.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        guard let stamp = FileStamp(path: path) else { return nil }
        self = stamp.identity
    }

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// What one `stat` says of a file: which file it is, its size and when it was last written.
struct FileStamp: Equatable, Sendable {
    var identity: FileIdentity
    var size: Int64
    /// Nanoseconds since 1970.
    var modified: Int64

    /// What `stat` finds at a path.
    enum Look {
        case file(FileStamp)
        /// Nothing there (`ENOENT`, or a folder on the way is a file).
        case missing
        /// `stat` failed otherwise (permissions, I/O), for this reason.
        case unexaminable(String)
    }

    static func look(at path: String) -> Look {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let error = errno
            return error == ENOENT || error == ENOTDIR ? .missing : .unexaminable(String(cString: strerror(error)).lowercased())
        }
        return .file(FileStamp(info))
    }

    init?(path: String) {
        guard case .file(let stamp) = Self.look(at: path) else { return nil }
        self = stamp
    }

    init(_ info: stat) {
        identity = FileIdentity(info)
        size = Int64(info.st_size)
        #if os(Linux)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        #else
        modified = Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
        #endif
    }
}
