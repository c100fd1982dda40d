import Foundation
import GRDB
import Store
import Testing
import TestSupport

/// The app's data is not always what its schema says. Reading it must never crash and must
/// keep what can be kept.
struct DirtyDataTests {
    let directory: TemporaryDirectory
    let tickets: TicketsDatabase

    init() throws {
        directory = try TemporaryDirectory()
        let path = directory.url("dirty.sqlite")
        // The columns carry no NOT NULL here: rows like these exist in exports of the app's data.
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: """
                CREATE TABLE users (id INTEGER PRIMARY KEY, full_name TEXT);
                CREATE TABLE machines (id INTEGER PRIMARY KEY, machine_type TEXT, model TEXT, location TEXT);
                CREATE TABLE tickets (
                    id INTEGER PRIMARY KEY, ticket_id TEXT, title TEXT, description TEXT, machine_id INTEGER,
                    status TEXT, priority TEXT, reported_by INTEGER, assigned_to INTEGER, created_at DATETIME,
                    assignee_name TEXT, scheduled_date DATETIME, is_machine_down INTEGER, deleted_at TEXT
                );
                INSERT INTO users VALUES (1, X'4AC3A972C3B46D65');
                """)
            let insert = """
                INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to,
                                     created_at, scheduled_date, is_machine_down)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
            // 1: integers stored in text columns.
            try db.execute(sql: insert, arguments: [1, 12345, 42, 3.5, 1, "received", "high", 1, 1, 20261124, 20261124, 1])
            // 2: invalid UTF-8 in the title, a blob in ticket_id.
            try db.execute(sql: insert, arguments: [2, Data("IGP-2026-0002".utf8), Data([0x46, 0x75, 0x69, 0x74, 0x65, 0xC3, 0x28, 0xFF]),
                                                    "ok", 1, "received", "low", 1, 1, nil, "2026-11-20 08:00:00", 0])
            // 3: NULL everywhere that can be NULL.
            try db.execute(sql: insert, arguments: [3, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil])
            // 4: a 1 MB description.
            try db.execute(sql: insert, arguments: [4, "IGP-2026-0004", "Grosse description", String(repeating: "é", count: 500_000),
                                                    1, "received", "medium", 1, 1, nil, "2026-11-20 08:00:00", 0])
            // 5: numbers written as text, and as floats, in integer columns; a machine row that is missing.
            try db.execute(sql: insert, arguments: [5, "IGP-2026-0005", "Texte", "", 999, "diagnostic", "critical", " 7 ", "1", nil,
                                                    "2026-11-20", "1"])
            try db.execute(sql: insert, arguments: [6, "IGP-2026-0006", "Flottant", "", 1.0, "diagnostic", "critical", 2.5, 1.0, nil,
                                                    "2026-11-20", 0.0])
        }
        tickets = try TicketsDatabase(path: path)
    }

    func record(_ id: Int64) throws -> TicketRecord {
        let records = try tickets.tickets(where: TicketFilter(sql: "t.id = ?", arguments: [.integer(id)]))
        return try #require(records.first)
    }

    @Test func everyRowIsReadInIdOrder() throws {
        let all = try tickets.tickets(where: TicketFilter(sql: "1", arguments: []))
        #expect(all.map(\.id) == [1, 2, 3, 4, 5, 6])
    }

    @Test func integersInTextColumnsBecomeText() throws {
        let row = try record(1)
        #expect(row.ticketID == "12345")
        #expect(row.title == "42")
        #expect(row.description == "3.5")
        #expect(row.createdAt == "20261124")
        #expect(row.scheduledDate == "20261124")
        #expect(row.isMachineDown)
    }

    @Test func invalidUTF8IsRepairedNotFatal() throws {
        let row = try record(2)
        #expect(row.ticketID == "IGP-2026-0002")
        #expect(row.title?.hasPrefix("Fuite") == true)
        #expect(row.title?.contains("\u{FFFD}") == true)
        // The reporter's name is valid UTF-8 stored as a blob.
        #expect(row.reporterName == "Jérôme")
    }

    @Test func nullsStayAbsent() throws {
        let row = try record(3)
        #expect(row.ticketID == nil)
        #expect(row.title == nil)
        #expect(row.description == nil)
        #expect(row.status == nil)
        #expect(row.assignedTo == nil)
        #expect(row.machineID == nil)
        #expect(row.machineType == nil)
        #expect(row.scheduledDate == nil)
        #expect(row.isMachineDown == false)
    }

    @Test func aOneMegabyteDescriptionIsReadWhole() throws {
        let row = try record(4)
        #expect(row.description?.utf8.count == 1_000_000)
        #expect(row.description?.count == 500_000)
    }

    @Test func numbersStoredAsTextOrFloatsAreReadAsIntegers() throws {
        let text = try record(5)
        #expect(text.reportedBy == 7)
        #expect(text.assignedTo == 1)
        #expect(text.isMachineDown)
        #expect(text.machineID == 999)
        #expect(text.machineType == nil, "the machine row is missing")
        let floats = try record(6)
        #expect(floats.machineID == 1)
        #expect(floats.assignedTo == 1)
        #expect(floats.reportedBy == nil, "2.5 is not an id")
        #expect(floats.isMachineDown == false)
    }
}
