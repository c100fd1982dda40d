import Foundation
import GRDB
import Store
import Testing
import TimeZoneRules
import TestSupport

/// The app's database is opened read-only: nothing overdued does may change its bytes or
/// stand in the way of the app's own writes.
struct TicketsDatabaseTests {
    static let now = Date(timeIntervalSince1970: 1_795_532_400) // 2026-11-24T15:00:00Z
    static let toronto = ZoneRules.load("America/Toronto") ?? .utc

    /// What a rule's query looks like: an indexed status lookup, a date bound, not deleted.
    static let openLateFilter = TicketFilter(
        sql: "t.status IN (?, ?) AND +t.scheduled_date IS NOT NULL AND +t.scheduled_date < ? AND +t.deleted_at IS NULL",
        arguments: [.text("received"), .text("diagnostic"), .text("2026-11-25")])

    /// A demo database of `tickets` rows in `directory`, in WAL mode as DemoTickets writes it.
    static func demo(in directory: TemporaryDirectory, name: String = "tickets.sqlite", tickets: Int = 2_000) throws -> String {
        let path = directory.url(name)
        _ = try DemoTickets(ticketCount: tickets, now: now, timeZone: toronto).write(to: path)
        return path
    }

    @Test func writesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.demo(in: directory)
        let before = try directory.bytes("tickets.sqlite")
        let tickets = try TicketsDatabase(path: path)

        for statement in [
            "INSERT INTO users (id, email, password_hash, full_name, role) VALUES (999, 'x@example.invalid', '!', 'X', 'viewer')",
            "UPDATE tickets SET status = 'completed'",
            "DELETE FROM tickets",
            "CREATE TABLE overdued_was_here (id INTEGER)",
            "CREATE INDEX overdued_index ON tickets (priority)",
            "DROP TABLE webhook_notifications",
        ] {
            #expect(throws: StoreError.self, "\(statement)") { _ = try tickets.rows(sql: statement) }
        }
        // Even with query_only switched off, the connection itself is read-only.
        _ = try? tickets.rows(sql: "PRAGMA query_only = 0")
        #expect(try tickets.rows(sql: "PRAGMA query_only") == [["0"]], "switched off: the refusal below is the read-only open's")
        #expect(throws: StoreError.self) { _ = try tickets.rows(sql: "DELETE FROM tickets") }

        #expect(try tickets.rows(sql: "SELECT count(*) FROM tickets") == [["2000"]])
        #expect(try tickets.rows(sql: "SELECT count(*) FROM users WHERE id = 999") == [["0"]])
        #expect(try !tickets.tableExists("overdued_was_here"))
        #expect(try directory.bytes("tickets.sqlite") == before)
    }

    @Test func readingARollbackJournalDatabaseChangesNoByte() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.demo(in: directory)
        try DatabaseQueue(path: path).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
        let filesBefore = try directory.fileNames()
        #expect(filesBefore == ["tickets.sqlite"])
        let before = try directory.bytes("tickets.sqlite")

        do {
            let tickets = try TicketsDatabase(path: path)
            var total = 0
            for _ in 0..<200 {
                total += try tickets.tickets(where: Self.openLateFilter).count
                #expect(try directory.fileNames() == filesBefore, "a read left a journal or lock file behind")
            }
            #expect(total > 0)
            #expect(try tickets.rows(sql: "PRAGMA journal_mode") == [["delete"]])
        }
        #expect(try directory.fileNames() == filesBefore)
        #expect(try directory.bytes("tickets.sqlite") == before)
    }

    @Test func readingAWALDatabaseNeverBlocksTheAppsWritesAndChangesNoByte() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.demo(in: directory)

        // The app: its own connection, failing at once on any lock rather than waiting.
        var appConfiguration = Configuration()
        appConfiguration.busyMode = .immediateError
        let app = try DatabaseQueue(path: path, configuration: appConfiguration)
        #expect(try app.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")

        let tickets = try TicketsDatabase(path: path)
        let initial = try tickets.tickets(where: Self.openLateFilter).count

        // A read while the app holds an uncommitted write sees the last committed state.
        try app.inTransaction { db in
            try db.execute(sql: "UPDATE tickets SET status = 'received', scheduled_date = '2020-01-01 00:00:00', deleted_at = NULL WHERE id <= 50")
            #expect(try tickets.tickets(where: Self.openLateFilter).count == initial)
            return .commit
        }
        #expect(try tickets.tickets(where: Self.openLateFilter).count >= 50)

        // 200 app writes on another thread while this one reads 200 times.
        let outcomes = WriteOutcomes()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for index in 0..<200 {
                do {
                    try app.write { db in
                        try db.execute(sql: "UPDATE tickets SET updated_at = ?, priority = ? WHERE id = ?",
                                       arguments: ["2026-11-24 15:00:\(index % 60)", ["low", "high"][index % 2], 1 + index % 2_000])
                        try db.execute(sql: """
                            INSERT INTO tickets (ticket_id, title, description, machine_id, status, reported_by, assigned_to, scheduled_date)
                            VALUES (?, 'Nouvelle panne', 'écrite pendant une lecture', 1, 'received', 1, 0, '2026-11-20 08:00:00')
                            """, arguments: ["IGP-2026-9\(String(format: "%03d", index))"])
                    }
                    outcomes.record(nil)
                } catch {
                    outcomes.record("\(error)")
                }
            }
            done.signal()
        }
        var reads = 0
        for _ in 0..<200 {
            reads += try tickets.tickets(where: Self.openLateFilter).isEmpty ? 0 : 1
        }
        done.wait()
        #expect(reads == 200)
        #expect(outcomes.failures == [], "the app's writes failed while overdued read")
        #expect(outcomes.successes == 200)
        #expect(try tickets.rows(sql: "SELECT count(*) FROM tickets WHERE ticket_id GLOB 'IGP-2026-9[0-9][0-9][0-9]'") == [["200"]])

        // The app checkpoints and stops; from then on our reads change nothing.
        try app.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try app.close()
        let before = try directory.bytes("tickets.sqlite")
        let walBefore = try? directory.bytes("tickets.sqlite-wal")
        for _ in 0..<200 {
            _ = try tickets.tickets(where: Self.openLateFilter)
        }
        #expect(try directory.bytes("tickets.sqlite") == before)
        #expect((try? directory.bytes("tickets.sqlite-wal")) == walBefore)
        #expect(try tickets.rows(sql: "PRAGMA journal_mode") == [["wal"]], "overdued never changes the journal mode")
    }

    @Test func aFileRenamedOverTheDatabaseIsSeenAsAReplacementAndAnAppWriteIsNot() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.demo(in: directory, tickets: 50)
        let tickets = try TicketsDatabase(path: path)
        #expect(!tickets.fileWasReplaced())

        let app = try DatabaseQueue(path: path)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET title = 'changed' WHERE id = 1") }
        try app.close()
        #expect(!tickets.fileWasReplaced(), "the app writing in place is not a replacement")

        // A new export written beside it, then renamed over it (atomic for readers).
        let export = try Self.demo(in: directory, name: "export.sqlite", tickets: 60)
        #expect(rename(export, path) == 0)
        #expect(tickets.fileWasReplaced())
        #expect(try tickets.rows(sql: "SELECT count(*) FROM tickets").first?.first == "50", "the open connection still reads the old file")
        #expect(try TicketsDatabase(path: path).rows(sql: "SELECT count(*) FROM tickets").first?.first == "60")

        try FileManager.default.removeItem(atPath: path)
        #expect(!tickets.fileWasReplaced(), "no file at the path (mid-replacement): keep the one that is open")
    }

    @Test func releasingMemoryKeepsTheConnectionAndItsChangeCounter() throws {
        // The daemon releases memory after every tick; its tick cache compares data_version
        // across ticks, which only means something on one connection that stays open.
        let directory = try TemporaryDirectory()
        let path = try Self.demo(in: directory, tickets: 50)
        // The app has the (WAL) database open, so it is read through the app's files; while
        // the app has it closed, changes are found by `fileChange` instead (ClosedWALTests).
        let app = try DatabaseQueue(path: path)
        try app.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM tickets") }
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.readMode == .shared)
        let before = try tickets.dataVersion()
        _ = try tickets.candidates(where: Self.openLateFilter)
        tickets.releaseMemory()
        #expect(try tickets.dataVersion() == before, "nothing committed: the same value after releasing memory")

        try app.write { db in try db.execute(sql: "UPDATE tickets SET title = 'changed' WHERE id = 1") }
        try app.close()
        tickets.releaseMemory()
        #expect(try tickets.dataVersion() != before, "the app's commit is still seen")
        #expect(try tickets.rows(sql: "SELECT title FROM tickets WHERE id = 1").first?.first == "changed")
    }

    @Test func anOldSchemaWithoutLaterColumnsStillWorks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("old.sqlite")
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: """
                CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password_hash TEXT, full_name TEXT, role TEXT);
                CREATE TABLE machines (id INTEGER PRIMARY KEY, machine_type TEXT NOT NULL, model TEXT NOT NULL, serial_number TEXT UNIQUE,
                                       location TEXT, status TEXT DEFAULT 'operational');
                CREATE TABLE tickets (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT UNIQUE NOT NULL, title TEXT NOT NULL,
                    description TEXT NOT NULL, machine_id INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'received',
                    priority TEXT NOT NULL DEFAULT 'medium', reported_by INTEGER NOT NULL, assigned_to INTEGER,
                    created_at DATETIME DEFAULT CURRENT_TIMESTAMP, scheduled_date DATETIME
                );
                INSERT INTO users VALUES (0, 'team@x', '!', 'Toute l''équipe', 'viewer'), (1, 'a@x', '!', 'Marie Roy', 'technician');
                INSERT INTO machines (id, machine_type, model, location) VALUES (1, 'Four', 'FT-2000', 'Atelier 1');
                INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, reported_by, assigned_to, scheduled_date)
                VALUES (1, 'IGP-FOUR-FT 2000-20250101-001', 'Porte bloquée', '', 1, 'received', 1, 0, '2025-01-01 23:59:59');
                """)
        }
        let tickets = try TicketsDatabase(path: path)
        #expect(tickets.schema == TicketSchema(hasDeletedAt: false, hasIsMachineDown: false, hasAssigneeName: false,
                                               hasStatusIndex: false, hasScheduledDateIndex: false))
        #expect(!tickets.selectSQL(where: TicketFilter(sql: "1", arguments: [])).contains("deleted_at"))
        let records = try tickets.tickets(where: TicketFilter(sql: "t.status IN (?)", arguments: [.text("received")]))
        try #require(records.count == 1)
        #expect(records[0].ticketID == "IGP-FOUR-FT 2000-20250101-001")
        #expect(records[0].assignedTo == 0)
        #expect(records[0].assigneeName == "Toute l'équipe")
        #expect(records[0].reporterName == "Marie Roy")
        #expect(records[0].machineType == "Four")
        #expect(records[0].machineLocation == "Atelier 1")
        #expect(records[0].deletedAt == nil)
        #expect(records[0].isMachineDown == false)
        #expect(records[0].assigneeNameText == nil)
    }

    @Test func theCurrentSchemaHasEveryOptionalColumn() throws {
        let directory = try TemporaryDirectory()
        let tickets = try TicketsDatabase(path: try Self.demo(in: directory, tickets: 10))
        #expect(tickets.schema == TicketSchema())
    }

    @Test func aDatabaseWithoutTheAppsTablesIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("other.sqlite")
        try DatabaseQueue(path: path).write { db in try db.execute(sql: "CREATE TABLE tickets (id INTEGER PRIMARY KEY)") }
        #expect { _ = try TicketsDatabase(path: path) } throws: { ($0 as? StoreError)?.kind == .schema }

        let noColumn = directory.url("no-column.sqlite")
        try DatabaseQueue(path: noColumn).write { db in
            try db.execute(sql: """
                CREATE TABLE users (id INTEGER PRIMARY KEY); CREATE TABLE machines (id INTEGER PRIMARY KEY);
                CREATE TABLE tickets (id INTEGER PRIMARY KEY, ticket_id TEXT, status TEXT, assigned_to INTEGER, machine_id INTEGER, reported_by INTEGER)
                """)
        }
        #expect { _ = try TicketsDatabase(path: noColumn) } throws: {
            ($0 as? StoreError)?.kind == .schema && ($0 as? StoreError)?.message.contains("scheduled_date") == true
        }
    }

    @Test func aMissingFileOrANonDatabaseCannotBeOpened() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.url("missing.sqlite")
        #expect { _ = try TicketsDatabase(path: missing) } throws: { ($0 as? StoreError)?.kind == .cannotOpen }
        #expect(!FileManager.default.fileExists(atPath: missing), "opening must not create the file")
        let text = try directory.write("notes.sqlite", String(repeating: "pas une base ", count: 400))
        #expect { _ = try TicketsDatabase(path: text) } throws: { ($0 as? StoreError)?.kind == .cannotOpen }
    }
}

/// What the app's writer thread saw.
final class WriteOutcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var _successes = 0
    private var _failures: [String] = []

    func record(_ failure: String?) {
        lock.withLock {
            if let failure { _failures.append(failure) } else { _successes += 1 }
        }
    }

    var successes: Int { lock.withLock { _successes } }
    var failures: [String] { lock.withLock { _failures } }
}

/// `valueCounts(of:)` keeps values SQLite tells apart (bytes), even those Swift's `==` takes
/// as equal, and leaves out values that are not text (the column's TEXT affinity turns a
/// number into text; a blob stays one).
struct TicketValueCountsTests {
    @Test func countsAreByteDistinctAndTextOnly() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("tickets.sqlite")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for statement in AppSchema.statements { try db.execute(sql: statement) }
            try db.execute(sql: "INSERT INTO users (id, email, password_hash, full_name, role) VALUES (1, 'm@x', '!', 'M', 'technician')")
            try db.execute(sql: "INSERT INTO machines (id, machine_type, model) VALUES (1, 'Four', 'FT')")
            for status in ["received", "received", "re\u{E7}u", "rec\u{327}u", "Received "] {
                try db.execute(sql: "INSERT INTO tickets (ticket_id, title, description, machine_id, status, reported_by) VALUES (hex(randomblob(8)), 't', 'd', 1, ?, 1)",
                               arguments: [status])
            }
            try db.execute(sql: "INSERT INTO tickets (ticket_id, title, description, machine_id, status, reported_by) VALUES ('n', 't', 'd', 1, X'72', 1)")
        }
        try queue.close()
        let counts = try TicketsDatabase(path: path).valueCounts(of: .status)
        #expect(counts.count == 4)
        #expect(counts.first { $0.value.utf8.elementsEqual("received".utf8) }?.tickets == 2)
        #expect(counts.filter { $0.value == "reçu" }.map(\.tickets) == [1, 1])
        #expect(!counts.contains { $0.value == "r" }, "a blob is not text, whatever the column's affinity")
    }
}
