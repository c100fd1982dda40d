import Foundation
import GRDB
import Scheduler
import Store
import Testing
import TimeZoneRules

/// The old system's log read into dedup records, without a clock or a database.
struct LegacyImportTests {
    static let toronto = ZoneRules.load("America/Toronto") ?? .utc
    static let now = Date(timeIntervalSince1970: 1_796_000_000)   // 2026-11-29T…Z

    static func row(_ ticket: Int64, sent: String, notified: String?, current: String?) -> LegacyImport.Row {
        LegacyImport.Row(ticket: ticket, sentAt: sent, scheduledDateNotified: notified, currentScheduledDate: current,
                         assignedTo: 7, status: "received", priority: "high", responseStatus: 200)
    }

    /// The log wrote the notified date in another form than the app's column (ISO with T and
    /// Z for a naive local time): the same instant is the ticket's date, in the app's text, so
    /// `once_per_scheduled_date` and `on_change` see no new date. Another instant stays apart.
    @Test func aNotifiedDateWrittenInAnotherFormIsTheTicketsOwn() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-26T13:00:00.000Z", current: "2026-11-26 08:00:00"))
        log.add(Self.row(2, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-25T13:00:00.000Z", current: "2026-11-26 08:00:00"))
        let result = log.result(rules: ["r"])
        #expect(log.datesRespelled == 1)
        #expect(result.records.map(\.scheduledDate) == ["2026-11-26 08:00:00", "2026-11-25T13:00:00.000Z"])
        #expect(Set(result.notified.compactMap(\.scheduledDate)) == ["2026-11-26 08:00:00", "2026-11-25T13:00:00.000Z"])
    }

    /// The log's rows are matched to tickets by key, by the internal id or by the human id a
    /// dirty row holds: one lookup each. An OR in the join made it read the whole tickets
    /// table for every row (74 s for 5,000 rows on 100,000 tickets).
    @Test func theLogIsMatchedByKeyNotByScanningTheTickets() throws {
        let app = try AppDatabase([TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", assignedTo: 1, scheduledDate: OldRuleRows.past)])
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false   // the app's log names tickets that are gone
        let queue = try DatabaseQueue(path: app.ticketsPath, configuration: configuration)
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
                VALUES (1, 'overdue_scheduled', 'x', '2026-11-24T13:00:00.000Z', 200, NULL),
                       ('IGP-2026-0001', 'overdue_scheduled', 'x', '2026-11-25T13:00:00.000Z', 200, NULL),
                       (99, 'overdue_scheduled', 'x', '2026-11-25T13:00:00.000Z', 200, NULL)
                """)
        }
        let sql = LegacyImport.logSQL(notifiedColumn: "w.scheduled_date_notified", statusColumn: "w.response_status")
        let plan = try queue.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String? ?? "" } }
        #expect(!plan.contains { $0.hasPrefix("SCAN t") || $0.hasPrefix("SCAN h") }, "\(plan)")
        let matched = try queue.read { db in try Int64?.fetchAll(db, sql: sql.replacingOccurrences(of: "SELECT t.id, w.sent_at", with: "SELECT t.id AS id, w.sent_at")) }
        #expect(matched == [1, 1, nil], "by id, by human id, and none")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
                VALUES (1, 'reminder', 'x', '2026-11-25T13:00:00.000Z', 200, NULL)
                """)
        }
        try queue.close()

        // What `import-legacy` reads of it: the two rows of ticket 1 (the human id's too), the
        // one naming a ticket gone counted apart, the other type left out and counted.
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        let read = try LegacyImport.read(try TicketsDatabase(path: app.ticketsPath), into: &log)
        #expect((read.noTicket, read.otherTypes, log.rowsRead) == (1, 1, 2))
        #expect(log.result(rules: ["r"]).records.map(\.ticket) == [1])
    }

    /// In the hour the clocks repeat (2026-11-01 01:30 in Toronto is 05:30Z and 06:30Z), a
    /// notified date written as either instant is the ticket's; a date an hour off on an
    /// ordinary day is not.
    @Test func eitherReadingOfTheRepeatedHourIsTheTicketsDate() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-01T05:30:00.000Z", current: "2026-11-01 01:30:00"))
        log.add(Self.row(2, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-01T06:30:00.000Z", current: "2026-11-01 01:30:00"))
        log.add(Self.row(3, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-10T14:30:00.000Z", current: "2026-11-10 08:30:00"))
        // A date with its own offset names one instant: an hour apart is another date.
        log.add(Self.row(4, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-01T01:30:00-04:00", current: "2026-11-01T01:30:00-05:00"))
        #expect(log.datesRespelled == 2)
        #expect(log.result(rules: ["r"]).records.map(\.scheduledDate)
                    == ["2026-11-01 01:30:00", "2026-11-01 01:30:00", "2026-11-10T14:30:00.000Z", "2026-11-01T01:30:00-04:00"])
    }

    /// Dates notified are kept only for the rules that weigh them (`once_per_scheduled_date`),
    /// as a scan keeps them; every rule gets its dedup record.
    @Test func datesAreKeptOnlyForTheRulesThatWeighThem() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "2026-11-26T10:00:00.000Z", notified: "2026-11-20 08:00:00", current: "2026-11-26 08:00:00"))
        log.add(Self.row(1, sent: "2026-11-27T10:00:00.000Z", notified: "2026-11-26 08:00:00", current: "2026-11-26 08:00:00"))
        let result = log.result(rules: ["daily", "once"], keepingDatesOf: ["once"])
        #expect(result.records.map(\.rule) == ["daily", "once"])
        #expect(Set(result.notified.map(\.rule)) == ["once"])
        #expect(Set(result.notified.compactMap(\.scheduledDate)) == ["2026-11-20 08:00:00", "2026-11-26 08:00:00"])
        #expect(Set(log.result(rules: ["daily", "once"]).notified.map(\.rule)) == ["daily", "once"], "nil keeps every rule's")
    }

    /// A `sent_at` after the import counts as sent at the import, and is said.
    @Test func aRowDatedAheadCountsAsSentNow() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "2099-01-01T00:00:00.000Z", notified: nil, current: "2026-11-26 08:00:00"))
        log.add(Self.row(2, sent: "2026-11-27T10:00:00.000Z", notified: nil, current: "2026-11-26 08:00:00"))
        let result = log.result(rules: ["r"])
        #expect(log.lateCount == 1 && log.late.first?.hasPrefix("ticket 1: sent_at \"2099-01-01T00:00:00.000Z\" is later than now") == true)
        #expect(result.records.map(\.lastNotifiedAt) == [Self.now, Date(timeIntervalSince1970: 1_795_773_600)])
    }

    /// What the log holds is quoted escaped in the import's warnings: no terminal escape, no
    /// second line.
    @Test func anUnreadableSentAtIsQuotedEscaped() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "bad\u{1B}[2J\nwarning: fake line", notified: nil, current: nil))
        #expect(log.skipped == [#"ticket 1: sent_at "bad\u{1B}[2J\nwarning: fake line" is not a date"#], "\(log.skipped)")
    }
}

/// The import writes in transactions of `Outbox.importBatch`: every record of a large import
/// is written, across the batches' boundaries, and a second import writes none again.
struct LegacyImportBatchTests {
    @Test func everyRecordOfALargeImportIsWritten() throws {
        let app = try AppDatabase([])
        let outbox = try app.outbox()
        let sent = Date(timeIntervalSince1970: 1_795_000_000)
        let records = (1...2_500).map { ticket in
            DedupRecord(rule: "r", ticket: Int64(ticket), lastNotifiedAt: sent, scheduledDate: "2026-11-24 08:00:00",
                        assignedTo: 1, status: "received", priority: "high", source: "legacy")
        }
        #expect(try outbox.importDedup(records, notified: records) == 2_500)
        #expect(try outbox.dedupRecords(rule: "r", tickets: records.map(\.ticket)).count == 2_500)
        #expect(try outbox.importDedup(records, notified: records) == 0, "nothing newer the second time")
    }
}
