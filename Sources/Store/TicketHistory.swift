internal import GRDB

/// One ticket as an operator names it to `overdued history --ticket`: the notifications it
/// covers are those stored under its `tickets.id`, and those stored under the human id it had
/// when they were made. A ticket the app renamed or deleted since keeps its history under its
/// old human id, which the tickets database no longer knows.
public struct TicketHistory: Sendable, Equatable {
    /// tickets.id: given as a number, or what the tickets database says the human id is now.
    public var ticket: Int64?
    /// The human id, matched against each notification's own `ticket_id`.
    public var ticketID: String?

    public init(ticket: Int64?, ticketID: String?) {
        self.ticket = ticket
        self.ticketID = ticketID
    }
}

extension Outbox {
    /// The notifications of `history` in the given states, the most recent first, as
    /// `notifications(in:ticket:limit:)` orders them.
    public func notifications(in statuses: [NotificationStatus], of history: TicketHistory, limit: Int) throws(StoreError) -> [OverdueNotification] {
        try database.read("read the notifications of a ticket") { db in
            let marks = statuses.map { _ in "?" }.joined(separator: ",")
            var arguments: [any DatabaseValueConvertible] = statuses.map(\.rawValue)
            // A nil one is bound as NULL, which matches nothing (`ticket = NULL` is never true).
            arguments += [history.ticket, history.ticketID, limit] as [any DatabaseValueConvertible]
            return try OverdueNotification.fetch(db, where: """
                status IN (\(marks)) AND (ticket = ? OR ticket_id = ?)
                ORDER BY COALESCE(delivered_at, dead_at, withdrawn_at, created_at) DESC, created_at DESC, id LIMIT ?
                """, arguments)
        }
    }
}
