public import Foundation
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

/// Which ended notifications `overdued history` lists: any combination of one ticket, a rule,
/// a destination, the states, and how recently they ended.
public struct HistoryFilter: Sendable, Equatable {
    public var statuses: [NotificationStatus]
    public var ticket: TicketHistory?
    public var rule: String?
    public var destination: String?
    /// Only those that ended (were delivered, given up or withdrawn; queued, for the others)
    /// at or after this instant.
    public var endedSince: Date?

    public init(statuses: [NotificationStatus], ticket: TicketHistory? = nil, rule: String? = nil,
                destination: String? = nil, endedSince: Date? = nil) {
        self.statuses = statuses
        self.ticket = ticket
        self.rule = rule
        self.destination = destination
        self.endedSince = endedSince
    }
}

extension Outbox {
    /// The notifications `filter` selects, the most recent event first, as
    /// `notifications(in:ticket:limit:)` orders them.
    public func notifications(matching filter: HistoryFilter, limit: Int) throws(StoreError) -> [OverdueNotification] {
        try database.read("read the notifications of the history") { db in
            let marks = filter.statuses.map { _ in "?" }.joined(separator: ",")
            var conditions = ["status IN (\(marks))"]
            var arguments: [any DatabaseValueConvertible] = filter.statuses.map(\.rawValue)
            if let ticket = filter.ticket {
                // A nil one is bound as NULL, which matches nothing (`ticket = NULL` is never true).
                conditions.append("(ticket = ? OR ticket_id = ?)")
                arguments += [ticket.ticket, ticket.ticketID] as [any DatabaseValueConvertible]
            }
            if let rule = filter.rule {
                conditions.append("rule = ?")
                arguments.append(rule)
            }
            if let destination = filter.destination {
                conditions.append("destination = ?")
                arguments.append(destination)
            }
            if let since = filter.endedSince {
                conditions.append("COALESCE(delivered_at, dead_at, withdrawn_at, created_at) >= ?")
                arguments.append(since.unixMilliseconds)
            }
            arguments.append(limit)
            return try OverdueNotification.fetch(db, where: conditions.joined(separator: " AND ") + """
                 ORDER BY COALESCE(delivered_at, dead_at, withdrawn_at, created_at) DESC, created_at DESC, id LIMIT ?
                """, arguments)
        }
    }
}
