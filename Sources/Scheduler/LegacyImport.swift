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
        /// The HTTP status the old system got back (NULL: not recorded).
        public var responseStatus: Int64?

        public init(ticket: Int64, sentAt: String?, scheduledDateNotified: String?, currentScheduledDate: String?,
                    assignedTo: Int64?, status: String?, priority: String?, responseStatus: Int64? = nil) {
            self.ticket = ticket
            self.responseStatus = responseStatus
            self.sentAt = sentAt
            self.scheduledDateNotified = scheduledDateNotified
            self.currentScheduledDate = currentScheduledDate
            self.assignedTo = assignedTo
            self.status = status
            self.priority = priority
        }
    }

    public struct Result: Sendable, Equatable {
        /// The newest delivered notification of each ticket, per rule: the dedup state.
        public var records: [DedupRecord]
        /// Every delivered notification whose scheduled date is known, per rule: the dates
        /// `once_per_scheduled_date` must not notify again.
        public var notified: [DedupRecord]
        /// Rows whose sent_at cannot be read (skipped), with why.
        public var skipped: [String]
        /// Rows the receiver refused (HTTP status outside 2xx): never delivered, so not
        /// counted as notified.
        public var refused: Int
    }

    /// The newest legacy notification of each ticket, as dedup records for each rule, and
    /// every notified scheduled date. The old system counted a receiver's refusal (a 500) as
    /// sent: those rows are left out, so that their tickets are notified now. A row without a
    /// status (not recorded) counts as delivered: the old system's evidence is all there is.
    /// It stored `scheduled_date_notified` only later; without it, the newest row's date is
    /// the ticket's current one when it was not changed since (unknown: the current value is
    /// the best evidence the log has), and an older row's date is unknown.
    public static func records(from rows: [Row], rules: [String]) -> Result {
        var newest: [Int64: (Date, Row)] = [:]
        var delivered: [(Date, Row)] = []
        var skipped: [String] = []
        var refused = 0
        for row in rows {
            guard case .instant(let sentAt) = ScheduledDate.parse(row.sentAt, in: TimeZone(identifier: "UTC") ?? .gmt) else {
                skipped.append("ticket \(row.ticket): sent_at \(row.sentAt.map { "\"\($0)\"" } ?? "NULL") is not a date")
                continue
            }
            if let status = row.responseStatus, !(200...299).contains(status) {
                refused += 1
                continue
            }
            delivered.append((sentAt, row))
            if let existing = newest[row.ticket], existing.0 >= sentAt { continue }
            newest[row.ticket] = (sentAt, row)
        }
        var records: [DedupRecord] = []
        for (ticket, (sentAt, row)) in newest.sorted(by: { $0.key < $1.key }) {
            for rule in rules {
                records.append(record(rule: rule, ticket: ticket, sentAt: sentAt, row: row,
                                      scheduledDate: row.scheduledDateNotified ?? row.currentScheduledDate))
            }
        }
        var notified: [DedupRecord] = []
        for (sentAt, row) in delivered {
            guard let date = row.scheduledDateNotified else { continue }
            for rule in rules {
                notified.append(record(rule: rule, ticket: row.ticket, sentAt: sentAt, row: row, scheduledDate: date))
            }
        }
        return Result(records: records, notified: notified + records, skipped: skipped, refused: refused)
    }

    private static func record(rule: String, ticket: Int64, sentAt: Date, row: Row, scheduledDate: String?) -> DedupRecord {
        DedupRecord(rule: rule, ticket: ticket, lastNotifiedAt: sentAt, scheduledDate: scheduledDate,
                    assignedTo: row.assignedTo, status: row.status, priority: row.priority, source: "legacy")
    }
}
