import TestSupport
import Foundation
import GRDB
import Store

/// One row of the app's `tickets` table, as a test chooses it.
struct TicketRow: Sendable {
    var id: Int64
    var ticketID: String
    var status: String
    var assignedTo: Int64?
    var scheduledDate: String?
    var deletedAt: String? = nil
    var priority = "high"
}

/// A tickets database in the app's schema (`AppSchema`) holding exactly the given rows, in a
/// temp folder, next to a state database.
struct AppDatabase {
    let directory: TemporaryDirectory
    let ticketsPath: String
    let statePath: String

    /// - Parameter loosen: edits each statement of the schema (a loose export's, say).
    init(_ rows: [TicketRow], loosen: (String) -> String = { $0 }) throws {
        directory = try TemporaryDirectory()
        ticketsPath = directory.url("tickets.sqlite")
        statePath = directory.url("state.sqlite")
        let queue = try DatabaseQueue(path: ticketsPath)
        try queue.write { db in
            for statement in AppSchema.statements + AppSchema.indexes { try db.execute(sql: loosen(statement)) }
            try db.execute(sql: """
                INSERT INTO users (id, email, password_hash, full_name, role) VALUES
                    (0, 'equipe@example.invalid', '!', '👥 Toute l''équipe', 'viewer'),
                    (1, 'marie@example.invalid', '!', 'Marie Tremblay', 'technician'),
                    (2, 'luc@example.invalid', '!', 'Luc Côté', 'senior_technician');
                INSERT INTO machines (id, machine_type, model, location) VALUES (1, 'Presse', 'PH-450', 'Atelier 2');
                """)
            for row in rows {
                try db.execute(sql: """
                    INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by,
                                         assigned_to, created_at, scheduled_date, deleted_at)
                    VALUES (?, ?, ?, 'Vérifier', 1, ?, ?, 2, ?, '2026-11-01 12:00:00', ?, ?)
                    """, arguments: [row.id, row.ticketID, "Ticket \(row.id) ⚙️", row.status, row.priority, row.assignedTo,
                                     row.scheduledDate, row.deletedAt])
            }
        }
        try queue.close()
    }

    func tickets() throws -> TicketsDatabase { try TicketsDatabase(path: ticketsPath) }
    func outbox() throws -> Outbox { Outbox(database: try StateDatabase(path: statePath)) }

    /// Runs SQL on the tickets database as the app would (to change a ticket between scans).
    func appWrite(_ sql: String, _ arguments: StatementArguments = []) throws {
        let queue = try DatabaseQueue(path: ticketsPath)
        try queue.write { db in try db.execute(sql: sql, arguments: arguments) }
        try queue.close()
    }
}

/// Rows that exercise the old rule at 2026-11-24T15:00:00Z (10:00 EST in Toronto).
enum OldRuleRows {
    static let past = "2026-11-20 08:00:00"
    static let rows: [TicketRow] = [
        TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 08:00:00"),
        TicketRow(id: 2, ticketID: "IGP-PRESSE-PH 450-20261101-002", status: "diagnostic", assignedTo: 0, scheduledDate: past),
        TicketRow(id: 3, ticketID: "IGP-2026-0003", status: "received", assignedTo: nil, scheduledDate: past),
        TicketRow(id: 4, ticketID: "IGP-2026-0004", status: "in_progress", assignedTo: 1, scheduledDate: past),
        TicketRow(id: 5, ticketID: "IGP-2026-0005", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 11:00:00"),
        TicketRow(id: 6, ticketID: "IGP-2026-0006", status: "received", assignedTo: 2, scheduledDate: "2026-11-24"),
        TicketRow(id: 7, ticketID: "IGP-2026-0007", status: "received", assignedTo: 2, scheduledDate: "2026-11-23"),
        TicketRow(id: 8, ticketID: "IGP-2026-0008", status: "diagnostic", assignedTo: 1, scheduledDate: "2026-11-24T14:30:00Z"),
        TicketRow(id: 9, ticketID: "IGP-2026-0009", status: "received", assignedTo: 1, scheduledDate: past, deletedAt: "2026-11-21 10:00:00"),
        TicketRow(id: 10, ticketID: "IGP-2026-0010", status: "received", assignedTo: 1, scheduledDate: "demain"),
        TicketRow(id: 11, ticketID: "IGP-2026-0011", status: "received", assignedTo: 1, scheduledDate: nil),
        TicketRow(id: 12, ticketID: "IGP-2026-0012", status: "received", assignedTo: 1, scheduledDate: ""),
        TicketRow(id: 13, ticketID: "IGP-2026-0013", status: "diagnostic", assignedTo: 1, scheduledDate: "null"),
        TicketRow(id: 14, ticketID: "IGP-2026-0014", status: "private", assignedTo: 1, scheduledDate: past),
        TicketRow(id: 15, ticketID: "IGP-2026-0015", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 09:59:00"),
        TicketRow(id: 16, ticketID: "   ", status: "received", assignedTo: 2, scheduledDate: "2026-11-22 08:00:00"),
        TicketRow(id: 17, ticketID: "IGP-2026-0017", status: "received", assignedTo: 1, scheduledDate: "2026-02-30 10:00:00"),
        TicketRow(id: 18, ticketID: "IGP-2026-0018", status: "it's", assignedTo: 1, scheduledDate: past),
        TicketRow(id: 19, ticketID: "IGP-2026-0019", status: "diagnostic", assignedTo: 1, scheduledDate: "24/11/2026"),
        TicketRow(id: 20, ticketID: "IGP-2026-0020", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 09:00:00.500"),
        TicketRow(id: 21, ticketID: "IGP-2026-0021", status: "completed", assignedTo: 1, scheduledDate: past),
        TicketRow(id: 22, ticketID: "IGP-2026-0022", status: "received", assignedTo: 2, scheduledDate: "2026-11-24T10:30:00-05:00"),
        TicketRow(id: 23, ticketID: "IGP-2026-0023", status: "received", assignedTo: 1, scheduledDate: "2026-11-24T09:30:00-05:00"),
        TicketRow(id: 24, ticketID: "IGP-2026-0024", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 10:00:00"),
        TicketRow(id: 25, ticketID: "IGP-2026-0025", status: "archived", assignedTo: nil, scheduledDate: "demain"),
    ]

    /// What the old rule selects: assigned (0 included), received/diagnostic, readable date
    /// before now, not deleted. Row 24 is due exactly now: not yet overdue.
    static let oldRuleSelects: Set<Int64> = [1, 2, 7, 8, 15, 16, 20, 23]
    /// Unreadable dates among the rows the old rule's SQL selects, and the blank ticket_id.
    static let oldRuleBadRows: Set<Int64> = [10, 16, 17, 19]
}
