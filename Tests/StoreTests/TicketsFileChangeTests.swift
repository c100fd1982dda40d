import Foundation
import GRDB
import Store
import Testing
import TestSupport

/// What became of the tickets file between two ticks: nothing, an app commit (which SQLite
/// sees), a new file renamed over it, or the same file rewritten behind SQLite's back.
struct TicketsFileChangeTests {
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        (directory, path) = try Self.exportInAFolder()
    }

    /// A fresh folder with `tickets.sqlite`, an export of one ticket not due before 2999.
    static func exportInAFolder() throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory()
        return (directory, try export(in: directory, name: "tickets.sqlite", scheduledDate: "2999-06-15 10:00:00"))
    }

    /// `exportInAFolder`, switched to WAL by the app, which then closed it.
    static func walExportInAFolder() throws -> (TemporaryDirectory, String) {
        let (directory, path) = try exportInAFolder()
        let app = try DatabaseQueue(path: path)
        try app.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try app.close()
        return (directory, path)
    }

    /// An export in the app's schema with one ticket, written in one transaction: two exports
    /// differing only in the date have the same size, page count and change counter.
    static func export(in directory: TemporaryDirectory, name: String, scheduledDate: String) throws -> String {
        let path = directory.url(name)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for statement in AppSchema.statements { try db.execute(sql: statement) }
            try db.execute(sql: """
                INSERT INTO users (id, email, password_hash, full_name, role) VALUES (1, 'marie@x', '!', 'Marie Tremblay', 'technician');
                INSERT INTO machines (id, machine_type, model) VALUES (1, 'Four', 'FT-2000');
                """)
            try db.execute(sql: """
                INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, reported_by, assigned_to, scheduled_date)
                VALUES (1, 'IGP-2026-0001', 'Fuite', 'Vérifier', 1, 'received', 1, 1, ?)
                """, arguments: [scheduledDate])
        }
        try queue.close()
        return path
    }

    static func scheduledDate(_ tickets: TicketsDatabase) throws -> String? {
        try tickets.rows(sql: "SELECT scheduled_date FROM tickets WHERE id = 1").first?.first ?? nil
    }

    @Test func nothingChangedIsUnchanged() throws {
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.fileChange() == .unchanged)
        _ = try Self.scheduledDate(tickets)
        #expect(tickets.fileChange() == .unchanged)
    }

    @Test func anAppCommitIsNotAnOverwrite() throws {
        let tickets = try TicketsDatabase(path: path)
        usleep(20_000)
        let app = try DatabaseQueue(path: path)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET title = 'Fuite réparée' WHERE id = 1") }
        try app.close()
        #expect(tickets.fileChange() == .unchanged, "data_version moved with the file: SQLite sees the commit")
        #expect(tickets.fileChange() == .unchanged, "and it is remembered as seen")
        #expect(try tickets.rows(sql: "SELECT title FROM tickets").first?.first == "Fuite réparée")
    }

    /// The app crashed (its -wal and -shm left behind), someone deleted both, and the app made
    /// them anew: the open connection maps the deleted -shm and misses every commit from then
    /// on. It is seen, and a new connection, with the old one closed first, reads the commit.
    @Test func aNewWALIndexBesideTheConnectionIsSeen() throws {
        let (directory, path) = try Self.walExportInAFolder()
        _ = directory
        let crashed = try SQLiteShellSession(path, sql: "PRAGMA wal_autocheckpoint = 0; UPDATE tickets SET title = 'a' WHERE id = 1;")
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.readMode == .shared)
        #expect(tickets.fileChange() == .unchanged)
        crashed.crash()
        #expect(unlink(path + "-wal") == 0 && unlink(path + "-shm") == 0)
        let app = try SQLiteShellSession(path, sql: "PRAGMA wal_autocheckpoint = 0; UPDATE tickets SET scheduled_date = '2020-01-01 10:00:00' WHERE id = 1;")
        defer { app.end() }
        #expect(tickets.fileChange() == .walIndexReplaced)
        #expect(tickets.fileChange() == .walIndexReplaced, "until the connection is replaced")
        tickets.close()
        #expect(tickets.isClosed)
        let reopened = try TicketsDatabase(path: path)
        #expect(try Self.scheduledDate(reopened) == "2020-01-01 10:00:00")
        #expect(reopened.fileChange() == .unchanged)
    }

    /// A database the app switched to WAL after the open: its -shm is watched from then on. A
    /// leftover -shm beside a database not in WAL mode is no reader's, and not watched.
    @Test func aWALIndexMadeAfterTheOpenIsWatchedALeftoverIsNot() throws {
        let leftover = try TicketsDatabase(path: path)
        _ = FileManager.default.createFile(atPath: path + "-shm", contents: Data(count: 32_768))
        let withLeftover = try TicketsDatabase(path: path)
        #expect(unlink(path + "-shm") == 0)
        #expect(withLeftover.fileChange() == .unchanged && leftover.fileChange() == .unchanged)

        let tickets = try TicketsDatabase(path: path)
        let first = try SQLiteShellSession(path, sql: "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; UPDATE tickets SET title = 'a' WHERE id = 1;")
        _ = try Self.scheduledDate(tickets)
        #expect(tickets.fileChange() == .unchanged, "the -shm is adopted")
        first.crash()
        #expect(unlink(path + "-wal") == 0 && unlink(path + "-shm") == 0)
        let app = try SQLiteShellSession(path, sql: "PRAGMA wal_autocheckpoint = 0; UPDATE tickets SET scheduled_date = '2020-01-01 10:00:00' WHERE id = 1;")
        defer { app.end() }
        #expect(tickets.fileChange() == .walIndexReplaced)
    }

    @Test func aFileRenamedOverItIsAReplacement() throws {
        let tickets = try TicketsDatabase(path: path)
        let export = try Self.export(in: directory, name: "export.sqlite", scheduledDate: "2020-06-15 10:00:00")
        #expect(rename(export, path) == 0)
        #expect(tickets.fileChange() == .replaced)
    }

    @Test func aCopyOverTheSameFileIsAnOverwriteThatANewConnectionReads() throws {
        let tickets = try TicketsDatabase(path: path)
        #expect(try Self.scheduledDate(tickets) == "2999-06-15 10:00:00")
        let export = try Self.export(in: directory, name: "export.sqlite", scheduledDate: "2020-06-15 10:00:00")
        usleep(20_000)
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
        // What `cp export.sqlite tickets.sqlite` does: truncate the file and write into it.
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try file.truncate(atOffset: 0)
        try file.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: export)))
        try file.close()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64 == inode)

        #expect(tickets.fileChange() == .overwrittenInPlace)
        #expect(tickets.fileChange() == .overwrittenInPlace, "until it is opened again")
        let reopened = try TicketsDatabase(path: path)
        #expect(try Self.scheduledDate(reopened) == "2020-06-15 10:00:00")
        #expect(reopened.fileChange() == .unchanged)
    }

    @Test func aDeletedFileIsMissingAndANewFileThereAReplacement() throws {
        let tickets = try TicketsDatabase(path: path)
        try FileManager.default.removeItem(atPath: path)
        #expect(tickets.fileChange() == .missing)
        #expect(try Self.scheduledDate(tickets) == "2999-06-15 10:00:00", "the open connection still reads the deleted file")
        _ = try Self.export(in: directory, name: "tickets.sqlite", scheduledDate: "2020-06-15 10:00:00")
        #expect(tickets.fileChange() == .replaced)
    }
}
