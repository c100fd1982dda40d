import Foundation
import OverduedConfig
@testable import Scheduler
import Store
import Testing

/// A queued notification whose ticket stopped matching its rule while it waited (the
/// receiver was down, say) is withdrawn by the next committing scan, never sent: the scan
/// cycle's files, `now` injected.
extension ScanCycleTests {
    func allNotifications(ticket: Int64) throws -> [OverdueNotification] {
        try outbox.notifications(in: [.pending, .retrying, .delivered, .dead, .withdrawn], ticket: ticket)
    }

    @Test func aQueuedNotificationWhoseTicketWasClosedIsWithdrawnNotSent() throws {
        let engine = try engine()
        let first = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        #expect(first.notifications.count == 6 && first.withdrawals.isEmpty)
        try deliver(ticket: 2, at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id IN (1, 2)")

        // A dry run lists what a committing scan would withdraw, and changes nothing.
        let later = t0.addingTimeInterval(60)
        let dry = try engine.scan(tickets: tickets, outbox: outbox, now: later)
        #expect(Set(dry.withdrawals.map(\.notification.ticket)) == [1])
        #expect(Set(dry.withdrawals.map(\.notification.destination)) == ["automation", "chat"])
        #expect(try allNotifications(ticket: 1).allSatisfy { $0.status == .pending })

        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: later)
        #expect(report.withdrawals.count == 2)
        for notification in try allNotifications(ticket: 1) {
            #expect(notification.status == .withdrawn)
            #expect(notification.withdrawnAt == later)
            #expect(notification.lastError?.contains("no longer matched rule old-rule") == true, "\(notification.lastError ?? "")")
        }
        #expect(try allNotifications(ticket: 2).allSatisfy { $0.status == .delivered }, "what was delivered stays delivered")
        #expect(try allNotifications(ticket: 7).allSatisfy { $0.status == .pending }, "a ticket still overdue keeps its notifications")
        let counts = try outbox.counts()
        #expect((counts.pending, counts.delivered, counts.withdrawn) == (2, 2, 2))
        for destination in ["automation", "chat"] {
            #expect(try outbox.due(destination: destination, now: later.addingTimeInterval(3_600), limit: 10).map(\.ticket) == [7])
        }
        let again = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: later.addingTimeInterval(60))
        #expect(again.withdrawals.isEmpty, "withdrawn once")
    }

    @Test func aTicketRescheduledOrUnassignedIsWithdrawnOneStillOverdueIsKept() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try database.appWrite("""
            UPDATE tickets SET scheduled_date = '2026-12-15 08:00:00' WHERE id = 1;
            UPDATE tickets SET assigned_to = NULL WHERE id = 7;
            UPDATE tickets SET status = 'received', title = 'changed' WHERE id = 2;
            """)
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(Set(report.withdrawals.map(\.notification.ticket)) == [1, 7])
        #expect(try allNotifications(ticket: 2).allSatisfy { $0.status == .pending })
    }

    @Test func aRowTheScanCannotReadKeepsItsNotifications() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try database.appWrite("UPDATE tickets SET scheduled_date = 'next tuesday' WHERE id = 1")
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(report.badRows.map(\.ticket) == [1])
        #expect(report.withdrawals.isEmpty, "no evidence either way")
        #expect(try allNotifications(ticket: 1).allSatisfy { $0.status == .pending })
    }

    /// What another process queued after this scan began rests on ticket rows newer than the
    /// ones this scan read: it is not weighed against them.
    @Test func whatIsQueuedAfterTheScanBeganIsNotWeighed() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let end = try outbox.lastQueued()
        try outbox.enqueue([OverdueNotification(id: "msg_late", rule: "old-rule", ticket: 1, ticketID: "IGP-2026-0001",
                                                destination: "automation", snapshot: Data("{}".utf8), createdAt: t0)], dedup: [])
        #expect(try outbox.queued(rule: "old-rule", upTo: end).count == 6)
        #expect(try outbox.queued(rule: "old-rule", upTo: try outbox.lastQueued()).count == 7)
        #expect(RulesEngine.withdrawals(rule: "old-rule", overdue: ([], [], .distantFuture),
                                        queued: try outbox.queued(rule: "old-rule", upTo: end)).count == 6)
    }

    /// An attempt in flight when its notification was withdrawn: a failure recorded after
    /// does not queue it again; a delivery is the truth and is recorded as such.
    @Test func anAttemptRecordedAfterTheWithdrawalDoesNotQueueItAgain() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let pair = try outbox.notifications(in: [.pending], ticket: 1)
        try #require(pair.count == 2)
        let (first, second) = (pair[0], pair[1])
        #expect(try outbox.withdraw([first.id, second.id], at: t0, reason: "test").count == 2)
        #expect(try outbox.withdraw([first.id], at: t0, reason: "test").isEmpty, "only what is still queued")
        try outbox.record(DeliveryAttempt(notificationID: first.id, attempt: 1, startedAt: t0, durationMilliseconds: 9, httpStatus: 503),
                          outcome: .retry(at: t0.addingTimeInterval(60)), now: t0)
        try outbox.record(DeliveryAttempt(notificationID: second.id, attempt: 1, startedAt: t0, durationMilliseconds: 9, httpStatus: 200),
                          outcome: .delivered, now: t0)
        #expect(try outbox.notification(id: first.id)?.status == .withdrawn)
        #expect(try outbox.attempts(notificationID: first.id).count == 1)
        let delivered = try #require(try outbox.notification(id: second.id))
        #expect(delivered.status == .delivered && delivered.withdrawnAt == nil)
    }
}
