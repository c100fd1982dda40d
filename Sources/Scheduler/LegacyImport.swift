import Foundation
public import Store

/// Seeds the dedup state from the app's own `webhook_notifications` log, so that switching
/// from the old automation to overdued does not notify again the tickets it notified in the
/// last `repeat.every` (or for the same scheduled date).
public enum LegacyImport {
    /// One row of `webhook_notifications` joined to the ticket's current fields.
    public struct Row: Sendable, Equatable {
        public var ticket: Int64
        public var sentAt: String?
        public var scheduledDateNotified: String?
        public var currentScheduledDate: String?
        public var assignedTo: Int64?
        public var status: String?
        public var priority: String?

        public init(ticket: Int64, sentAt: String?, scheduledDateNotified: String?, currentScheduledDate: String?,
                    assignedTo: Int64?, status: String?, priority: String?) {
            self.ticket = ticket
            self.sentAt = sentAt
            self.scheduledDateNotified = scheduledDateNotified
            self.currentScheduledDate = currentScheduledDate
            self.assignedTo = assignedTo
            self.status = status
            self.priority = priority
        }
    }

    public struct Result: Sendable, Equatable {
        public var records: [DedupRecord]
        /// Rows whose sent_at cannot be read (skipped), with why.
        public var skipped: [String]
    }

    /// The newest legacy notification of each ticket, as dedup records for each rule. The
    /// old system stored `scheduled_date_notified` only later; without it, the ticket's
    /// scheduled date is taken as notified only when it was not changed since (unknown: the
    /// current value is the best evidence the log has).
    public static func records(from rows: [Row], rules: [String]) -> Result {
        var newest: [Int64: (Date, Row)] = [:]
        var skipped: [String] = []
        for row in rows {
            guard case .instant(let sentAt) = ScheduledDate.parse(row.sentAt, in: TimeZone(identifier: "UTC") ?? .gmt) else {
                skipped.append("ticket \(row.ticket): sent_at \(row.sentAt.map { "\"\($0)\"" } ?? "NULL") is not a date")
                continue
            }
            if let existing = newest[row.ticket], existing.0 >= sentAt { continue }
            newest[row.ticket] = (sentAt, row)
        }
        var records: [DedupRecord] = []
        for (ticket, (sentAt, row)) in newest.sorted(by: { $0.key < $1.key }) {
            for rule in rules {
                records.append(DedupRecord(rule: rule, ticket: ticket, lastNotifiedAt: sentAt,
                                           scheduledDate: row.scheduledDateNotified ?? row.currentScheduledDate,
                                           assignedTo: row.assignedTo, status: row.status, priority: row.priority,
                                           source: "legacy"))
            }
        }
        return Result(records: records, skipped: skipped)
    }
}
