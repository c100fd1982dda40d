import Foundation
import GRDB
import Store
import Testing
import TestSupport

/// Opening the tickets database checks every column overdued's queries read, so that a
/// database lacking one is refused at once (by `check-config`, at start, on reload, and when a
/// new file replaces it) rather than making every tick fail with "no such column".
struct TicketsSchemaCheckTests {
    /// What the candidate query, the whole-row query and the machine and user names read;
    /// written out here from the queries, not taken from the code under test.
    static let readColumns = [
        "tickets.id", "tickets.ticket_id", "tickets.title", "tickets.description", "tickets.machine_id",
        "tickets.status", "tickets.priority", "tickets.reported_by", "tickets.assigned_to", "tickets.created_at",
        "tickets.scheduled_date",
        "machines.id", "machines.machine_type", "machines.model", "machines.location",
        "users.id", "users.full_name",
    ]

    /// The app's schema (`AppSchema`) without these `table.column`s, and without indexes
    /// (some index the dropped columns).
    static func database(without dropped: Set<String>, in directory: TemporaryDirectory) throws -> String {
        let path = directory.url("tickets.sqlite")
        let statements = AppSchema.statements.map { statement -> String in
            guard let table = statement.split(separator: "(").first?.split(separator: " ").last.map(String.init) else { return statement }
            var lines = statement.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.removeAll { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return dropped.contains { $0 == "\(table).\(trimmed.split(separator: " ").first ?? "")" }
            }
            // The last column may have gone: no comma before the closing parenthesis.
            if let close = lines.lastIndex(where: { $0.trimmingCharacters(in: .whitespaces) == ")" }), close > 0,
               lines[close - 1].hasSuffix(",") {
                lines[close - 1].removeLast()
            }
            return lines.joined(separator: "\n")
        }
        try DatabaseQueue(path: path).write { db in
            for statement in statements { try db.execute(sql: statement) }
        }
        return path
    }

    @Test(arguments: readColumns)
    func aDatabaseWithoutAColumnThatIsReadIsRefused(_ column: String) throws {
        let directory = try TemporaryDirectory()
        let path = try Self.database(without: [column], in: directory)
        #expect { _ = try TicketsDatabase(path: path) } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .schema && error.message.contains(column) && error.path == path
        }
    }

    @Test func everyMissingColumnIsReportedAtOnce() throws {
        let directory = try TemporaryDirectory()
        let dropped: Set = ["tickets.priority", "tickets.title", "machines.model", "users.full_name"]
        let path = try Self.database(without: dropped, in: directory)
        do {
            _ = try TicketsDatabase(path: path)
            Issue.record("opened a database without \(dropped.sorted())")
        } catch {
            for column in dropped { #expect(error.message.contains(column), "\(error.message)") }
            #expect(error.description.hasPrefix(path + ": "))
        }
    }

    @Test func theLaterColumnsStayOptional() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.database(without: ["tickets.deleted_at", "tickets.is_machine_down", "tickets.assignee_name"],
                                     in: directory)
        let tickets = try TicketsDatabase(path: path)
        #expect(!tickets.schema.hasDeletedAt && !tickets.schema.hasIsMachineDown && !tickets.schema.hasAssigneeName)
        #expect(try tickets.tickets(where: TicketFilter(sql: "1", arguments: [])).isEmpty)
    }

    @Test func aMissingTableNamesTheFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("tickets.sqlite")
        try DatabaseQueue(path: path).write { db in try db.execute(sql: AppSchema.statements[2]) }  // tickets only
        #expect { _ = try TicketsDatabase(path: path) } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .schema && error.message.contains("has no machines or users table") && error.path == path
        }
    }

    /// A database whose `tickets` is a view over another table: the message says it is a view.
    @Test func aViewNamedTicketsIsReportedAsAView() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("tickets.sqlite")
        try DatabaseQueue(path: path).write { db in
            for statement in AppSchema.statements {
                try db.execute(sql: statement.replacingOccurrences(of: "CREATE TABLE tickets ", with: "CREATE TABLE app_tickets "))
            }
            try db.execute(sql: "CREATE VIEW tickets AS SELECT * FROM app_tickets")
        }
        #expect { _ = try TicketsDatabase(path: path) } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.message.contains("tickets is a view") && !error.message.contains("has no tickets table") && error.path == path
        }
    }

    /// A zero-byte file (an export not written yet, a failed copy) is called empty, and stays so.
    @Test func anEmptyFileIsReportedAsEmpty() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("tickets.sqlite")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        #expect { _ = try TicketsDatabase(path: path) } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.message.contains("empty file") && !error.message.contains("has no tickets table") && error.path == path
        }
        #expect(try directory.bytes("tickets.sqlite").isEmpty)
    }
}
