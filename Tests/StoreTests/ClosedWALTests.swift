import Foundation
import GRDB
import Store
import Testing
import TestSupport

/// A WAL database that the app has closed has no -wal or -shm beside it. Reading it must not
/// create them: they would belong to overdued's user, and the app could be refused its own
/// database (the audit saw "attempt to write a readonly database" in the app).
struct ClosedWALTests {
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        (directory, path) = try TicketsFileChangeTests.walExportInAFolder()
    }

    func besideTheDatabase() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix("tickets.sqlite-") }.sorted()
    }

    @Test func aClosedWALDatabaseIsReadWithoutCreatingItsWALFiles() throws {
        #expect(try besideTheDatabase().isEmpty, "the app's last connection removed them")
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.readMode == .closedWAL)
        #expect(try TicketsFileChangeTests.scheduledDate(tickets) == "2999-06-15 10:00:00")
        #expect(try tickets.dataVersion() == tickets.dataVersion())
        #expect(tickets.fileChange() == .unchanged)
        #expect(try besideTheDatabase().isEmpty, "no -wal or -shm created by overdued")
    }

    /// A link at the configured path (docs/systemd.md suggests one): SQLite resolves it and
    /// keeps the -wal and -shm beside the file it points to, and its own layer will not open
    /// a link: read through one, the closed WAL database was taken for another mode and
    /// opened shared, which created both files beside it (as root; refused as another user).
    @Test func aClosedWALDatabaseBehindASymbolicLinkIsReadWithoutCreatingItsWALFiles() throws {
        let link = directory.url("link/tickets.sqlite")
        try FileManager.default.createDirectory(atPath: directory.url("link"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let tickets = try TicketsDatabase(path: link)
        #expect(tickets.readMode == .closedWAL)
        #expect(try TicketsFileChangeTests.scheduledDate(tickets) == "2999-06-15 10:00:00")
        #expect(tickets.fileChange() == .unchanged)
        #expect(try besideTheDatabase().isEmpty, "no -wal or -shm created beside the link's target")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url("link")) == ["tickets.sqlite"])
        // The app opens it: its -shm, beside the target, is seen through the link.
        let app = try DatabaseQueue(path: path)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET scheduled_date = '2020-06-15 10:00:00' WHERE id = 1") }
        #expect(TicketsDatabase.walIndexExists(path: link))
        #expect(tickets.fileChange() == .walReopened)
        try app.close()
    }

    /// A database read with a rollback journal that the app switches to WAL and closes: read
    /// through the old connection, SQLite created the -wal and -shm (wherever overdued may
    /// write) and held them open. Seen before any read, and read afresh as it stands.
    @Test func aSwitchToWALByTheAppIsSeenBeforeTheOldConnectionCreatesItsFiles() throws {
        let rollback = try TicketsFileChangeTests.export(in: directory, name: "rollback.sqlite", scheduledDate: "2999-06-15 10:00:00")
        let tickets = try TicketsDatabase(path: rollback)
        #expect(tickets.readMode == .shared)
        #expect(try TicketsFileChangeTests.scheduledDate(tickets) == "2999-06-15 10:00:00")
        usleep(20_000)
        let app = try DatabaseQueue(path: rollback)
        try app.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try app.close()
        func beside() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("rollback.sqlite-") } }
        #expect(try beside().isEmpty)
        #expect(tickets.fileChange() == .switchedToWAL)
        #expect(try beside().isEmpty, "the look creates nothing")
        let reopened = try TicketsDatabase(path: rollback)
        #expect(reopened.readMode == .closedWAL)
        #expect(try TicketsFileChangeTests.scheduledDate(reopened) == "2999-06-15 10:00:00")
        #expect(try beside().isEmpty)
    }

    @Test func whenTheAppOpensItAgainItIsReadThroughTheAppsFiles() throws {
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.readMode == .closedWAL)
        // The app opens the database and commits; its connection stays open.
        let app = try DatabaseQueue(path: path)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET scheduled_date = '2020-06-15 10:00:00' WHERE id = 1") }
        #expect(tickets.fileChange() == .walReopened)
        let reopened = try TicketsDatabase(path: path)
        #expect(reopened.readMode == .shared)
        #expect(try TicketsFileChangeTests.scheduledDate(reopened) == "2020-06-15 10:00:00", "the commit in the app's -wal is read")
        try app.close()
    }

    @Test func aChangeWhileTheAppHadItOpenAndClosedAgainIsReadAfresh() throws {
        let tickets = try TicketsDatabase(path: path)
        usleep(20_000)
        let app = try DatabaseQueue(path: path)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET scheduled_date = '2020-06-15 10:00:00' WHERE id = 1") }
        try app.close()
        #expect(try besideTheDatabase().isEmpty, "checkpointed and closed")
        #expect(tickets.fileChange() == .walReopened)
        let reopened = try TicketsDatabase(path: path)
        #expect(reopened.readMode == .closedWAL)
        #expect(try TicketsFileChangeTests.scheduledDate(reopened) == "2020-06-15 10:00:00")
    }

    @Test func aRollbackJournalDatabaseAndAnOpenWALDatabaseAreReadShared() throws {
        let app = try DatabaseQueue(path: path)
        try app.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM tickets") }
        #expect(try TicketsDatabase(path: path).readMode == .shared, "the app has it open: its -shm is there")
        try app.close()
        let rollback = try TicketsFileChangeTests.export(in: directory, name: "rollback.sqlite", scheduledDate: "2999-06-15 10:00:00")
        #expect(try TicketsDatabase(path: rollback).readMode == .shared)
    }

    @Test func aFolderOverduedMayNotWriteIsNoLongerAProblemWhenTheAppHasItClosed() throws {
        let folder = (path as NSString).deletingLastPathComponent
        #expect(chmod(folder, 0o555) == 0)
        defer { chmod(folder, 0o755) }
        // Root may write anyway; the point is that nothing is created and the read works.
        let tickets = try TicketsDatabase(path: path)
        #expect(try TicketsFileChangeTests.scheduledDate(tickets) == "2999-06-15 10:00:00")
        #expect(try besideTheDatabase().isEmpty)
    }
}
