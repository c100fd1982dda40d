import Foundation
import GRDB
@testable import Store
import Testing
import TestSupport

/// A reader of a WAL database holds a shared lock on the file for as long as its connection is
/// open: that is how the app's last connection, at its close, knows it is not the last user and
/// leaves the -wal and -shm in place. POSIX locks belong to the process and all go with the
/// first `close` of any descriptor of the file, so overdued must never open and close the
/// database itself beside SQLite. The audit saw the daemon's lock go at a reopen (the file's
/// header was read with a plain open): the app's next close deleted the -wal and -shm, and the
/// daemon read a stale index until restarted ("malformed", every tick skipped).
struct TicketsLockTests {
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        (directory, path) = try TicketsFileChangeTests.walExportInAFolder()
    }

    /// The app: another process with the database open (its -wal and -shm exist) until it ends.
    static func appHoldingItOpen(_ path: String) throws -> SQLiteShellSession {
        let app = try SQLiteShellSession(path, sql: "SELECT count(*) FROM tickets;")
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: path + "-shm"), Date() < deadline { usleep(10_000) }
        return app
    }

    /// The POSIX locks this process holds on the file at `path`, from /proc/locks.
    static func ownLocks(on path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        let inode = ":\(info.st_ino) "
        let pid = String(getpid())
        let table = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
        return table.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1: POSIX  ADVISORY  READ 4242 08:01:1234 1073741826 1073741826"
            return fields.count > 5 && fields[4] == pid && (fields[5] + " ").hasSuffix(inode)
        }.count
    }

    @Test func readingTheHeaderKeepsAnOpenConnectionsLock() throws {
        let app = try Self.appHoldingItOpen(path)
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.readMode == .shared)
        _ = try tickets.dataVersion()
        try #require(try Self.ownLocks(on: path) > 0, "a WAL reader holds a shared lock while its connection is open")
        #expect(SQLiteFile.isWAL(path))
        #expect(try Self.ownLocks(on: path) > 0, "the header read (seen to fail with a FileHandle) left the lock")
        app.end()
        _ = tickets
    }

    /// What the daemon does at a reopen: a second connection opens while the first still
    /// holds its lock, then the first goes. The app's close afterwards leaves the -wal and
    /// -shm for the connection still reading.
    @Test func aReopenKeepsTheLockAndTheAppsCloseLeavesTheWALFiles() throws {
        let app = try Self.appHoldingItOpen(path)
        var first: TicketsDatabase? = try TicketsDatabase(path: path)
        _ = try first?.dataVersion()
        let second = try TicketsDatabase(path: path)
        _ = try second.dataVersion()
        first = nil
        #expect(try Self.ownLocks(on: path) > 0)
        app.end()
        #expect(FileManager.default.fileExists(atPath: path + "-wal") && FileManager.default.fileExists(atPath: path + "-shm"),
                "the app's close saw another user and kept its files")
        #expect(try TicketsFileChangeTests.scheduledDate(second) == "2999-06-15 10:00:00")
        _ = first
    }
}
