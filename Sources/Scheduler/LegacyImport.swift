internal import TextEscaping
public import Foundation
public import TimeZoneRules
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
    ///
    /// Read one row at a time: what it keeps grows with the tickets and the dates
    /// they were notified for, not with the rows (a log whose dedup broke holds one row per
    /// ticket per tick: millions).
    public struct Log: Sendable {
        private var newest: [Int64: (sentAt: Date, row: Row)] = [:]
        /// The `sent_at` each of `newest` was written with, before a date ahead of the import
        /// was counted as now: which of several such rows is the newest.
        private var newestAsWritten: [Int64: Date] = [:]
        /// The newest delivery of each (ticket, notified scheduled date).
        private var dates: [DateKey: (sentAt: Date, row: Row)] = [:]
        /// The first unreadable rows, with why (`skippedCount` counts them all).
        public private(set) var skipped: [String] = []
        public private(set) var skippedCount = 0
        public private(set) var refused = 0
        public private(set) var rowsRead = 0
        /// Rows dated after `now` (the app's clock ahead, or a date without a time, read as
        /// 23:59:59), counted as sent now, with why (`lateCount` counts them all).
        public private(set) var late: [String] = []
        public private(set) var lateCount = 0
        /// How many skipped (or late) rows are described one by one.
        public static let describedSkips = 20
        /// The import's instant: no legacy notification was sent after it.
        private let now: Date
        /// `store.timezone`, in which naive scheduled dates are read.
        private let zone: ZoneRules
        /// Rows whose `scheduled_date_notified` was written in another form than the ticket's
        /// `scheduled_date` for the same instant, taken as the ticket's.
        public private(set) var datesRespelled = 0

        private struct DateKey: Hashable {
            var ticket: Int64
            var date: String
        }

        private static let utc = ZoneRules.utc

        public init(now: Date, zone: ZoneRules = .utc) {
            self.now = now
            self.zone = zone
        }

        public mutating func add(_ row: Row) {
            rowsRead += 1
            guard case .instant(var sentAt) = ScheduledDate.parse(row.sentAt, in: Self.utc) else {
                skippedCount += 1
                if skipped.count < Self.describedSkips {
                    skipped.append(PrintableText.escaped("ticket \(row.ticket): sent_at \(row.sentAt.map { "\"\($0)\"" } ?? "NULL") is not a date"))
                }
                return
            }
            if let status = row.responseStatus, !(200...299).contains(status) {
                refused += 1
                return
            }
            // A record dated ahead would read as a clock set back, which re-arms the rule: the
            // ticket would be notified again at once, and a later import would replace a newer
            // record of overdued's own. The old system sent it by now: it counts as sent now.
            let asWritten = sentAt
            if sentAt > now {
                lateCount += 1
                if late.count < Self.describedSkips {
                    late.append(PrintableText.escaped("ticket \(row.ticket): sent_at \"\(row.sentAt ?? "")\" is later than now (\(CivilDate.iso8601(now)))"))
                }
                sentAt = now
            }
            // Dates are told apart by their text (`once_per_scheduled_date`, `on_change`): one the
            // old system wrote in another form ("2026-11-26T13:00:00.000Z" for the app's
            // "2026-11-26 08:00:00") is the ticket's own when it is the same instant.
            var row = row
            if let notified = row.scheduledDateNotified, let current = row.currentScheduledDate, current != notified,
               case .instant(let at) = ScheduledDate.parse(notified, in: zone),
               ScheduledDate.names(at, current, in: zone) {
                row.scheduledDateNotified = current
                datesRespelled += 1
            }
            if let date = row.scheduledDateNotified {
                let key = DateKey(ticket: row.ticket, date: date)
                if dates[key].map({ sentAt > $0.sentAt }) ?? true { dates[key] = (sentAt, row) }
            }
            if let existing = newestAsWritten[row.ticket], existing >= asWritten { return }
            newest[row.ticket] = (sentAt, row)
            newestAsWritten[row.ticket] = asWritten
        }

        /// - Parameter keepingDatesOf: the rules whose notified dates are kept (those with
        ///   `once_per_scheduled_date`, which weigh them; `Outbox.enqueue(keepingDatesOf:)`); nil, all.
        public func result(rules: [String], keepingDatesOf: Set<String>? = nil) -> Result {
            var records: [DedupRecord] = []
            for (ticket, (sentAt, row)) in newest.sorted(by: { $0.key < $1.key }) {
                for rule in rules {
                    records.append(record(rule: rule, ticket: ticket, sentAt: sentAt, row: row,
                                          scheduledDate: row.scheduledDateNotified ?? row.currentScheduledDate))
                }
            }
            var notified: [DedupRecord] = []
            let dated = rules.filter { keepingDatesOf?.contains($0) ?? true }
            for (key, (sentAt, row)) in dates.sorted(by: { ($0.key.ticket, $0.key.date) < ($1.key.ticket, $1.key.date) }) {
                for rule in dated {
                    notified.append(record(rule: rule, ticket: key.ticket, sentAt: sentAt, row: row, scheduledDate: key.date))
                }
            }
            return Result(records: records, notified: notified + records.filter { keepingDatesOf?.contains($0.rule) ?? true },
                          skipped: skipped, refused: refused)
        }
    }

    /// Reads the app's `webhook_notifications` of `source` into `log`, one row at a time (a log
    /// whose dedup broke holds millions: one per ticket per tick). Returns how many rows name
    /// no ticket of `source` (deleted since: they need no dedup state, and are not imported),
    /// and how many are of another `notification_type` (left out).
    public static func read(_ source: TicketsDatabase, into log: inout Log) throws(StoreError) -> (noTicket: Int, otherTypes: Int) {
        let columns = Set(try source.rows(sql: "SELECT name FROM pragma_table_info('webhook_notifications')").compactMap { $0.first ?? nil })
        let notified = columns.contains("scheduled_date_notified") ? "w.scheduled_date_notified" : "NULL"
        let status = columns.contains("response_status") ? "w.response_status" : "NULL"
        var noTicket = 0
        try source.forEachRow(sql: logSQL(notifiedColumn: notified, statusColumn: status)) { row in
            guard row.count == 9, row[8] != nil, let ticket = row[0].flatMap({ Int64($0) }) else {
                noTicket += 1
                return
            }
            log.add(Row(ticket: ticket, sentAt: row[1], scheduledDateNotified: row[2], currentScheduledDate: row[3],
                        assignedTo: row[4].flatMap { Int64($0) }, status: row[5], priority: row[6],
                        responseStatus: row[7].flatMap { Int64($0) }))
        }
        let otherTypes = try source.rows(sql: "SELECT count(*) FROM webhook_notifications WHERE notification_type IS NOT 'overdue_scheduled'")
            .first?.first?.flatMap { Int($0) } ?? 0
        return (noTicket, otherTypes)
    }

    /// The app's log joined to the tickets, one row per notification (the columns `read`
    /// decodes, in this order): the ticket's internal
    /// id (NULL when none matches), `sent_at`, the notified date (`notifiedColumn`, or NULL
    /// where the column is missing), the ticket's date, assignee, status and priority, the
    /// response status, and the id again. A `ticket_id` holding the human id (IGP-…) where the
    /// internal one belongs is dirty data the app's log has: matched by that id. Each row is
    /// one key lookup: the CAST lets the unique index on `ticket_id` serve (an `OR` in the
    /// join read the whole table for every row).
    public static func logSQL(notifiedColumn: String, statusColumn: String) -> String {
        """
        SELECT t.id, w.sent_at, \(notifiedColumn), t.scheduled_date, t.assigned_to, t.status, t.priority, \(statusColumn), t.id
        FROM webhook_notifications AS w LEFT JOIN tickets AS t ON t.id = CASE typeof(w.ticket_id)
            WHEN 'text' THEN (SELECT h.id FROM tickets AS h WHERE h.ticket_id = CAST(w.ticket_id AS TEXT))
            ELSE w.ticket_id END
        WHERE w.notification_type = 'overdue_scheduled'
        """
    }

    private static func record(rule: String, ticket: Int64, sentAt: Date, row: Row, scheduledDate: String?) -> DedupRecord {
        DedupRecord(rule: rule, ticket: ticket, lastNotifiedAt: sentAt, scheduledDate: scheduledDate,
                    assignedTo: row.assignedTo, status: row.status, priority: row.priority, source: "legacy")
    }
}
