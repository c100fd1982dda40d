import Foundation
import Scheduler
import Testing

/// The old system's log read into dedup records, without a clock or a database.
struct LegacyImportTests {
    static let toronto = TimeZone(identifier: "America/Toronto") ?? .gmt
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

    /// A `sent_at` after the import counts as sent at the import, and is said.
    @Test func aRowDatedAheadCountsAsSentNow() {
        var log = LegacyImport.Log(now: Self.now, zone: Self.toronto)
        log.add(Self.row(1, sent: "2099-01-01T00:00:00.000Z", notified: nil, current: "2026-11-26 08:00:00"))
        log.add(Self.row(2, sent: "2026-11-27T10:00:00.000Z", notified: nil, current: "2026-11-26 08:00:00"))
        let result = log.result(rules: ["r"])
        #expect(log.lateCount == 1 && log.late.first?.hasPrefix("ticket 1: sent_at \"2099-01-01T00:00:00.000Z\" is later than now") == true)
        #expect(result.records.map(\.lastNotifiedAt) == [Self.now, Date(timeIntervalSince1970: 1_795_773_600)])
    }
}
