import Foundation
import GRDB
@testable import Store
import Testing
import TestSupport

/// The state database's folder belongs to the service's user; root runs `overdued history`,
/// `queue`, `scan` or `once` there by hand. A symbolic link the folder's owner put at the
/// database's path must not make root create or change another file.
struct StateFileLinkTests {
    /// Another SQLite database, root's: a link to it is refused, and it is left as it was.
    @Test func aLinkAtTheStateDatabasePathIsRefused() throws {
        let folder = try TemporaryDirectory()
        let elsewhere = try TemporaryDirectory()
        let other = elsewhere.url("other-app.sqlite")
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE secrets (x)") }
        let before = try elsewhere.bytes("other-app.sqlite")
        try FileManager.default.createSymbolicLink(atPath: folder.url("state.sqlite"), withDestinationPath: other)

        let error = #expect(throws: StoreError.self) { try StateDatabase(path: folder.url("state.sqlite")) }
        #expect(error?.description.contains("state.sqlite is a symbolic link, which overdued does not follow for its state database") == true,
                "\(String(describing: error))")
        #expect(try elsewhere.bytes("other-app.sqlite") == before)
        #expect(try elsewhere.fileNames() == ["other-app.sqlite"], "no -wal or -shm beside it either")

        // A link to a file that does not exist: it is not created.
        try FileManager.default.removeItem(atPath: folder.url("state.sqlite"))
        try FileManager.default.createSymbolicLink(atPath: folder.url("state.sqlite"), withDestinationPath: elsewhere.url("created"))
        #expect(throws: StoreError.self) { try StateDatabase(path: folder.url("state.sqlite")) }
        #expect(try elsewhere.fileNames() == ["other-app.sqlite"])

        // A link at the -wal's path.
        try FileManager.default.removeItem(atPath: folder.url("state.sqlite"))
        try FileManager.default.createSymbolicLink(atPath: folder.url("state.sqlite-wal"), withDestinationPath: elsewhere.url("wal"))
        let wal = #expect(throws: StoreError.self) { try StateDatabase(path: folder.url("state.sqlite")) }
        #expect(wal?.description.contains("state.sqlite-wal is a symbolic link") == true, "\(String(describing: wal))")
        #expect(try elsewhere.fileNames() == ["other-app.sqlite"])
    }

    /// A link put there after that check (the folder's owner racing root's command) is refused
    /// by SQLite itself: its `open` and `readlink` are guarded for the state database's files.
    @Test func aLinkThatAppearsAfterTheCheckIsRefusedBySQLite() throws {
        let folder = try TemporaryDirectory()
        let elsewhere = try TemporaryDirectory()
        let path = folder.url("state.sqlite")
        StateFileAccess.refuseLinksFromSQLite(stateDatabase: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: elsewhere.url("target.sqlite"))
        #expect(throws: DatabaseError.self) {
            try DatabaseQueue(path: path).write { try $0.execute(sql: "CREATE TABLE notification (x)") }
        }
        #expect(try elsewhere.fileNames() == [], "SQLite created nothing through the link")

        // The -wal: the database is a plain file, its write-ahead log a link.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path + "-wal", withDestinationPath: elsewhere.url("target-wal"))
        #expect(throws: DatabaseError.self) {
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "CREATE TABLE notification (x)")
            }
        }
        #expect(try elsewhere.fileNames() == [])

        // Other paths are not affected: a link to a database elsewhere still opens.
        let linked = folder.url("tickets-link.sqlite")
        try DatabaseQueue(path: elsewhere.url("tickets.sqlite")).write { try $0.execute(sql: "CREATE TABLE tickets (id)") }
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: elsewhere.url("tickets.sqlite"))
        #expect(try DatabaseQueue(path: linked).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM tickets") } == 0)
    }

    /// The state database holds ticket titles and people's names: readable and writable by its
    /// owner alone, whatever the umask, and so are SQLite's files beside it.
    @Test func theStateDatabaseIsItsOwnersAlone() throws {
        let folder = try TemporaryDirectory()
        let path = folder.url("state.sqlite")
        let database = try StateDatabase(path: path)
        try Outbox(database: database).enqueue([], dedup: [])
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            #expect(mode == 0o600, "\(file): \(String(mode, radix: 8))")
        }
    }
}
