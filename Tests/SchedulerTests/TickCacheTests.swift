import Foundation
import GRDB
import OverduedConfig
import Scheduler
@testable import Store
import Testing

/// The daemon's ticks reuse each rule's candidate rows while the tickets database is
/// unchanged; any commit by the app, a new day's cutoff or new rules make them read again.
/// Real SQLite files; the "app" is a second connection that writes.
struct TickCacheTests {
    static let rows = [
        TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 08:00:00"),
        TicketRow(id: 2, ticketID: "IGP-2026-0002", status: "diagnostic", assignedTo: 0, scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 3, ticketID: "IGP-2026-0003", status: "received", assignedTo: 2, scheduledDate: "2026-11-24 10:30:00"),
        TicketRow(id: 4, ticketID: "IGP-2026-0004", status: "completed", assignedTo: 2, scheduledDate: "2026-11-20 08:00:00"),
    ]

    let database: AppDatabase
    let tickets: TicketsDatabase
    let outbox: Outbox
    let cache = TickCache()
    let engine: RulesEngine

    init() throws {
        database = try AppDatabase(Self.rows)
        tickets = try database.tickets()
        outbox = try database.outbox()
        engine = RulesEngine(rules: [try RuleSpecs.make("old-rule", MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                                             destinations: ["automation"])],
                             timeZone: Instants.toronto)
    }

    @discardableResult
    func tick(at now: Date) throws -> ScanReport {
        let report = try engine.scan(tickets: tickets, outbox: outbox, now: now, cache: cache)
        try outbox.enqueue(report.notifications, dedup: report.dedupRecords)
        return report
    }

    @Test func anUnchangedDatabaseIsNotQueriedAgainAndGivesTheSameDecisions() throws {
        let first = try tick(at: Instants.now)
        #expect(first.reusedQueries == 0)
        #expect(Set(first.matches.map(\.ticket.ticket)) == [1, 2])

        let quiet = try tick(at: Instants.now.addingTimeInterval(300))
        #expect(quiet.reusedQueries == 1, "nothing committed since: the rows are reused")
        #expect(Set(quiet.matches.map(\.ticket.ticket)) == [1, 2])
        #expect(quiet.matches.allSatisfy { !$0.isEnqueued }, "\(quiet.matches.map(\.decision.reason))")
        #expect(quiet.matches.allSatisfy { $0.snapshot == nil }, "a quiet tick reads no joined row")

        // Time alone makes ticket 3 overdue (10:30 Toronto = 15:30Z): the cached rows hold every
        // candidate below the day's cutoff, not only the ones overdue when they were read.
        let later = try tick(at: try Instants.utc("2026-11-24T15:45:00Z"))
        #expect(later.reusedQueries == 1)
        let three = try #require(later.matches.first { $0.ticket.ticket == 3 })
        #expect(three.isEnqueued)
        let encoded = try #require(later.notifications.first { $0.ticket == 3 }?.snapshot)
        #expect(try TicketSnapshot.decode(encoded).title == "Ticket 3 ⚙️", "the enqueued one is read whole")
    }

    @Test func anAppCommitMakesTheNextTickReadAgain() throws {
        try tick(at: Instants.now)
        try database.appWrite("UPDATE tickets SET status = 'received', assigned_to = 2 WHERE id = 4")
        let after = try tick(at: Instants.now.addingTimeInterval(300))
        #expect(after.reusedQueries == 0, "the app committed: data_version changed")
        let reopened = try #require(after.matches.first { $0.ticket.ticket == 4 }, "the reopened ticket is seen at once")
        #expect(reopened.isEnqueued)
        let encoded = try #require(after.notifications.first { $0.ticket == 4 }?.snapshot)
        #expect(try TicketSnapshot.decode(encoded).assignedTo == 2)

        let quiet = try tick(at: Instants.now.addingTimeInterval(600))
        #expect(quiet.reusedQueries == 1)
        #expect(quiet.enqueuedCount == 0)
    }

    @Test func aNewDaysCutoffReadsAgain() throws {
        try tick(at: Instants.now)
        let nextDay = try tick(at: Instants.now.addingTimeInterval(86_400))
        #expect(nextDay.reusedQueries == 0, "the date cutoff moved: another query")
    }

    @Test func dedupIsReadEveryTickEvenWhenRowsAreReused() throws {
        let first = try tick(at: Instants.now)
        #expect(first.enqueuedCount == 2)
        // Delivered; twenty minutes later the same query is reused and dedup, read again, holds.
        for notification in try outbox.notifications(in: [.pending]) {
            try outbox.record(DeliveryAttempt(notificationID: notification.id, attempt: 1, startedAt: Instants.now,
                                              durationMilliseconds: 5, httpStatus: 200), outcome: .delivered, now: Instants.now)
        }
        let sameDay = try tick(at: Instants.now.addingTimeInterval(1_200))
        #expect(sameDay.reusedQueries == 1)
        #expect(sameDay.enqueuedCount == 0)
        #expect(!sameDay.matches.isEmpty, "suppressed, not gone")
        #expect(sameDay.matches.allSatisfy { $0.decision.reason.contains("repeat.every") })
    }

    @Test func theScanCommandsDetailReadsEveryMatchWhole() throws {
        try tick(at: Instants.now)
        let report = try engine.scan(tickets: tickets, outbox: outbox, now: Instants.now.addingTimeInterval(60), detail: .all)
        #expect(report.enqueuedCount == 0)
        #expect(report.matches.count == 2)
        #expect(report.matches.allSatisfy { $0.snapshot?.ticketID == $0.ticket.ticketID })
    }

    // MARK: the quiet result

    @Test func aQuietTickWithNothingChangedReturnsTheLastResultWithoutReading() throws {
        try tick(at: Instants.now)                                   // enqueues 1 and 2
        let settled = try tick(at: Instants.now.addingTimeInterval(60))
        #expect(settled.unchangedSince == nil, "the dedup state changed with the enqueue: evaluated")
        let quiet = try tick(at: Instants.now.addingTimeInterval(120))
        #expect(quiet.unchangedSince == Instants.now.addingTimeInterval(60))
        #expect(quiet.matches == settled.matches)
        #expect(quiet.enqueuedCount == 0)
    }

    /// A reload carries the rows over into a new cache, not the quiet result: the next tick
    /// decides again (the new rules' repeat may differ) without reading the tickets again; and
    /// a tick still running on the old cache cannot leave a result in the new one.
    @Test func aReloadCarriesTheRowsButNotTheResult() throws {
        try tick(at: Instants.now)
        try tick(at: Instants.now.addingTimeInterval(60))
        let carried = cache.carryingRows()
        let quiet = try tick(at: Instants.now.addingTimeInterval(120))
        #expect(quiet.unchangedSince != nil, "the old cache keeps its result")
        let reloaded = try engine.scan(tickets: tickets, outbox: outbox, now: Instants.now.addingTimeInterval(180), cache: carried)
        #expect(reloaded.unchangedSince == nil, "decided again after the reload")
        #expect(reloaded.reusedQueries == 1, "from the rows carried over")
        #expect(reloaded.matches.map(\.ticket.ticket) == quiet.matches.map(\.ticket.ticket))
        #expect(reloaded.enqueuedCount == 0)
    }

    @Test func theQuietResultEndsWhenACandidateBecomesDue() throws {
        try tick(at: Instants.now)
        try tick(at: Instants.now.addingTimeInterval(60))
        // Ticket 3 is due at 15:30Z (10:30 Toronto); the quiet result holds until then.
        let before = try tick(at: try Instants.utc("2026-11-24T15:29:59Z"))
        #expect(before.unchangedSince != nil)
        let after = try tick(at: try Instants.utc("2026-11-24T15:30:01Z"))
        #expect(after.unchangedSince == nil)
        #expect(after.notifications.map(\.ticket) == [3])
    }

    @Test func theQuietResultEndsWhenRepeatEveryElapses() throws {
        let hourly = RulesEngine(rules: [try RuleSpecs.make("old-rule", MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                                            repeat: RepeatSpec(every: .seconds(3_600)), destinations: ["automation"])],
                                 timeZone: Instants.toronto)
        @discardableResult func hourlyTick(_ seconds: TimeInterval) throws -> ScanReport {
            let report = try hourly.scan(tickets: tickets, outbox: outbox, now: Instants.now.addingTimeInterval(seconds), cache: cache)
            try outbox.enqueue(report.notifications, dedup: report.dedupRecords)
            return report
        }
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 3")  // no ticket becomes due
        try hourlyTick(0)
        for notification in try outbox.notifications(in: [.pending]) {
            try outbox.record(DeliveryAttempt(notificationID: notification.id, attempt: 1, startedAt: Instants.now,
                                              durationMilliseconds: 5, httpStatus: 200), outcome: .delivered, now: Instants.now)
        }
        try hourlyTick(60)
        let almost = try hourlyTick(3_599)
        #expect(almost.unchangedSince == Instants.now.addingTimeInterval(60), "an hour minus a second: still held back")
        let hour = try hourlyTick(3_600)
        #expect(hour.unchangedSince == nil)
        #expect(Set(hour.notifications.map(\.ticket)) == [1, 2], "repeat.every elapsed: notified again")
    }

    @Test func aDedupChangeByAnotherProcessEndsTheQuietResult() throws {
        try tick(at: Instants.now)
        try tick(at: Instants.now.addingTimeInterval(60))
        #expect(try tick(at: Instants.now.addingTimeInterval(120)).unchangedSince != nil)
        // An operator forgets ticket 2 (another connection, as sqlite3 would).
        let queue = try DatabaseQueue(path: database.statePath)
        try queue.write { db in try db.execute(sql: "DELETE FROM dedup_state WHERE ticket = 2") }
        try queue.close()
        let after = try tick(at: Instants.now.addingTimeInterval(180))
        #expect(after.unchangedSince == nil)
        #expect(after.matches.first { $0.ticket.ticket == 2 }?.decision.reason.contains("still queued") == true,
                "dedup forgot it; its first notification is still queued")
    }

    @Test func aMatchWaitingOnTheQueueIsNeverAQuietResult() throws {
        let daily = RulesEngine(rules: [try RuleSpecs.make("old-rule", MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                                           repeat: RepeatSpec(every: .seconds(60)), destinations: ["automation"])],
                                timeZone: Instants.toronto)
        let first = try daily.scan(tickets: tickets, outbox: outbox, now: Instants.now, cache: cache)
        try outbox.enqueue(first.notifications, dedup: first.dedupRecords)
        // Two minutes on, repeat.every has passed but the first notifications are undelivered.
        let waiting = try daily.scan(tickets: tickets, outbox: outbox, now: Instants.now.addingTimeInterval(120), cache: cache)
        #expect(waiting.matches.count == first.matches.count && !waiting.matches.isEmpty, "suppressed, not gone")
        #expect(waiting.matches.allSatisfy { $0.decision == .suppress(.stillQueued) })
        let again = try daily.scan(tickets: tickets, outbox: outbox, now: Instants.now.addingTimeInterval(121), cache: cache)
        #expect(again.unchangedSince == nil, "the notifier, not the clock, ends a wait on the queue")
    }
}
