import Foundation
import OverduedConfig
@testable import Scheduler
@testable import Store
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
            #expect(notification.lastError?.hasPrefix("withdrawn: rule old-rule no longer selected the ticket at ") == true, "\(notification.lastError ?? "")")
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
        #expect(try outbox.queuedTickets(rule: "old-rule", upTo: end).count == 6)
        #expect(try outbox.queuedTickets(rule: "old-rule", upTo: try outbox.lastQueued()).count == 7)
        #expect(RulesEngine.unseen(try outbox.queuedTickets(rule: "old-rule", upTo: end), overdue: OverdueRead(tickets: [], badRows: [], nextDue: .distantFuture)).count == 6)
    }

    /// Two dead notifications of one rule, ticket and destination: `queue retry` requeues the
    /// newer and leaves the older dead, saying which one replaced it (sending both would repeat
    /// the alert, the stale one first).
    @Test func ofTwoDeadNotificationsOfOneRouteOnlyTheNewerIsRequeued() throws {
        let engine = try engine()
        for (id, at) in [("msg_older", t0), ("msg_newer", t0.addingTimeInterval(3_600))] {
            try outbox.enqueue([OverdueNotification(id: id, rule: "old-rule", ticket: 1, ticketID: "IGP-2026-0001",
                                                    destination: "automation", snapshot: Data("{}".utf8), createdAt: at)], dedup: [])
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at, durationMilliseconds: 5, httpStatus: 400),
                              outcome: .dead(reason: "HTTP 400"), now: at)
        }
        let review = RequeueReview.review(try outbox.deadNotifications(), rules: engine.rules, destinations: ["automation"]) { _, ids in Set(ids) }
        #expect(review.requeue.map(\.id) == ["msg_newer"])
        #expect(review.kept.map(\.notification.id) == ["msg_older"])
        #expect(review.kept.map(\.reason) == [.superseded(by: "msg_newer")])
    }

    /// A scan at another instant than the clock's (`--now`) weighs nothing: tickets overdue
    /// now are not overdue yet then.
    @Test func aScanAtAnotherInstantWithdrawsNothing() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let past = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(-30 * 86_400), withdrawing: false)
        #expect(past.matches.isEmpty && past.withdrawals.isEmpty)
        #expect(try outbox.counts().pending == 6)
    }

    /// What was never sent did not notify: a ticket closed, withdrawn, then reopened is
    /// notified again at once; but not when one of the enqueue's notifications went out.
    @Test func aWithdrawnEnqueueNoLongerCountsAsNotified() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try deliver(ticket: 2, destinations: ["automation"], at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id IN (1, 2)")
        let closed = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(closed.withdrawals.count == 3, "ticket 1 twice, ticket 2 for chat")
        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id IN (1, 2)")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(120))
        #expect(reopened.matches.filter(\.isEnqueued).map(\.ticket.ticket) == [1], "\(reopened.matches.map(\.decision))")
        #expect(reopened.matches.first { $0.ticket.ticket == 2 }?.decision.reason.contains("repeat.every") == true)
    }

    /// Withdrawing a later notification gives the dedup state back to the earlier one that
    /// was delivered: a date already notified stays notified, the withdrawn date does not.
    @Test func aWithdrawalGivesTheDedupStateBackToTheNotificationBefore() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true))
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22 08:00:00' WHERE id = 1")
        let moved = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(moved.notifications.map(\.ticket) == [1, 1], "a new date, queued (the receiver is down)")
        try database.appWrite("UPDATE tickets SET scheduled_date = '2099-01-01 08:00:00' WHERE id = 1")
        let future = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(120))
        #expect(future.withdrawals.count == 2)
        let record = try #require(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1])
        #expect(record.lastNotifiedAt == t0 && record.scheduledDate == "2026-11-24 08:00:00", "the delivered notification's")
        #expect(try outbox.notifiedScheduledDates(rule: "old-rule", tickets: [1])[1] == ["2026-11-24 08:00:00"])

        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24 08:00:00' WHERE id = 1")
        let back = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(180))
        #expect(back.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false, "the delivered date is not notified twice")
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22 08:00:00' WHERE id = 1")
        let again = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(240))
        #expect(again.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == true, "the withdrawn date was never notified")
    }

    /// A notification of ticket 1 that went out an hour before `t0` and has no row in the
    /// notification table: imported by `import-legacy`, or delivered here and then pruned.
    func notifiedWithoutARow(_ engine: RulesEngine, pruned: Bool) throws -> Date {
        let sentAt = t0.addingTimeInterval(-3_600)
        if pruned {
            _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: sentAt)
            try deliver(ticket: 1, destinations: ["automation"], at: sentAt.addingTimeInterval(1))
            #expect(try outbox.pruneHistory(before: sentAt.addingTimeInterval(60)).removed == 1)
        } else {
            let legacy = DedupRecord(rule: "old-rule", ticket: 1, lastNotifiedAt: sentAt, scheduledDate: "2026-11-24 08:00:00",
                                     assignedTo: 1, status: "received", priority: "normal", source: "legacy")
            #expect(try outbox.importDedup([legacy], notified: [legacy]) == 1)
        }
        #expect(try allNotifications(ticket: 1).isEmpty)
        return sentAt
    }

    /// What went out without a row here still counts once a later change notification is
    /// withdrawn: the ticket reopened as it was is not notified again within `repeat.every`.
    @Test(arguments: [false, true]) func aWithdrawalGoesBackToANotificationWithoutARow(pruned: Bool) throws {
        let engine = try engine(RepeatSpec(onChange: [.status]), destinations: ["automation"])
        let sentAt = try notifiedWithoutARow(engine, pruned: pruned)
        try database.appWrite("UPDATE tickets SET status = 'diagnostic' WHERE id = 1")
        let changed = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        #expect(changed.notifications.map(\.ticket).contains(1), "the change is queued (the receiver is down)")
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(600)).withdrawals.count == 1)
        let record = try #require(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1])
        #expect(record.lastNotifiedAt == sentAt && record.status == "received" && record.source == (pruned ? "scan" : "legacy"))

        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id = 1")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(1_200))
        let decision = reopened.matches.first { $0.ticket.ticket == 1 }?.decision
        #expect(reopened.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false, "\(String(describing: decision))")
        #expect(decision?.reason.contains("repeat.every") == true, "\(String(describing: decision))")
    }

    /// The same for a scheduled date: notified without a row, notified again on a change that
    /// was then withdrawn, it stays notified for `once_per_scheduled_date`.
    @Test(arguments: [false, true]) func aDateNotifiedWithoutARowStaysNotifiedAfterAWithdrawal(pruned: Bool) throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true, onChange: [.assignedTo]), destinations: ["automation"])
        _ = try notifiedWithoutARow(engine, pruned: pruned)
        try database.appWrite("UPDATE tickets SET assigned_to = 2 WHERE id = 1")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0).notifications.map(\.ticket).contains(1))
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(600)).withdrawals.count == 1)
        let dates = try outbox.notifiedScheduledDates(rule: "old-rule", tickets: [1])[1]
        #expect(dates == ["2026-11-24 08:00:00"], "\(String(describing: dates))")

        try database.appWrite("UPDATE tickets SET status = 'received', assigned_to = 1 WHERE id = 1")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(1_200))
        let decision = reopened.matches.first { $0.ticket.ticket == 1 }?.decision
        #expect(reopened.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false, "\(String(describing: decision))")
    }

    /// A notification withdrawn while its request was under way, then delivered: the dedup
    /// state says it notified after all.
    @Test func aNotificationDeliveredAfterItsWithdrawalCountsAsNotified() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true), destinations: ["automation"])
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let inFlight = try #require(try outbox.notifications(in: [.pending], ticket: 1).first)
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60)).withdrawals.map(\.notification.id) == [inFlight.id])
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1]).isEmpty)
        try outbox.record(DeliveryAttempt(notificationID: inFlight.id, attempt: 1, startedAt: t0, durationMilliseconds: 9, httpStatus: 200),
                          outcome: .delivered, now: t0.addingTimeInterval(61))
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.lastNotifiedAt == t0)
        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id = 1")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(120))
        #expect(reopened.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false, "delivered once is notified once")
    }

    /// How the request of a notification withdrawn while under way ended.
    enum UnderWayEnd: CaseIterable, Sendable { case refused, timedOut, cutOffByAStop }

    /// A notification withdrawn while its request is under way (its attempt marked started)
    /// may still arrive: the ticket counts as notified until the answer says otherwise. The
    /// ops audit saw a ticket closed (or its rule removed by a reload) and matching again
    /// within the request's time queued again and delivered twice, under two webhook-ids.
    /// Refused with an answer, it did not notify, and the dedup state goes back; timed out
    /// after it left, or cut off by a stop, the receiver may have it: it stays notified.
    @Test(arguments: UnderWayEnd.allCases) func aNotificationWithdrawnUnderWayCountsAsNotifiedUntilItsAnswer(end: UnderWayEnd) throws {
        let engine = try engine(destinations: ["automation"])
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let inFlight = try #require(try outbox.notifications(in: [.pending], ticket: 1).first)
        try outbox.record([], starting: [StartedAttempt(notificationID: inFlight.id, attempt: 1, startedAt: t0.addingTimeInterval(59))])
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        let closed = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(closed.withdrawals.map(\.notification.id) == [inFlight.id])
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.lastNotifiedAt == t0, "under way, it may arrive")
        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id = 1")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(61))
        #expect(reopened.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false, "queued again while the first may arrive")
        let started = t0.addingTimeInterval(59)
        switch end {
        case .refused:
            try outbox.record([RecordedAttempt(attempt: DeliveryAttempt(notificationID: inFlight.id, attempt: 1, startedAt: started,
                                                                        durationMilliseconds: 9, httpStatus: 503, error: "HTTP 503"),
                                               outcome: .retry(at: t0.addingTimeInterval(120)), at: t0.addingTimeInterval(62))])
        case .timedOut:
            try outbox.record([RecordedAttempt(attempt: DeliveryAttempt(notificationID: inFlight.id, attempt: 1, startedAt: started,
                                                                        durationMilliseconds: 10_000, error: "timed out"),
                                               outcome: .retry(at: t0.addingTimeInterval(120)), at: t0.addingTimeInterval(62), mayHaveArrived: true)])
        case .cutOffByAStop:
            try outbox.record([], forgetting: [inFlight.id])
        }
        #expect(try outbox.notification(id: inFlight.id)?.status == .withdrawn)
        #expect(try outbox.interruptedAttempts(destinations: ["automation"]).isEmpty)
        let notified = end != .refused
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1]).isEmpty == !notified, "\(end)")
        let after = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(63))
        #expect(after.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == !notified, "\(end)")
    }

    /// The withdrawal can commit before the mark of a request its worker had already read
    /// (the mark waits for the write lock the withdrawal holds, and the request goes after
    /// `startedMarkWait` all the same): the mark, written after, keeps the ticket notified.
    @Test func aMarkWrittenAfterTheWithdrawalKeepsTheTicketNotified() throws {
        let engine = try engine(destinations: ["automation"])
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let inFlight = try #require(try outbox.notifications(in: [.pending], ticket: 1).first)
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60)).withdrawals.count == 1)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1]).isEmpty, "no mark yet: never sent")
        try outbox.record([], starting: [StartedAttempt(notificationID: inFlight.id, attempt: 1, startedAt: t0.addingTimeInterval(59))])
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.lastNotifiedAt == t0, "under way after all")
        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id = 1")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(61))
        #expect(reopened.matches.first { $0.ticket.ticket == 1 }?.isEnqueued == false)
    }

    /// A rule removed from the config (or renamed) leaves its queue to no one: withdrawn,
    /// saying so; the renamed rule notifies afresh, once.
    @Test func theQueueOfARuleNoLongerInTheConfigIsWithdrawn() throws {
        _ = try engine().scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let renamed = RulesEngine(rules: [try RuleSpecs.make("old-rule-v2", MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                                             destinations: ["automation", "chat"])],
                                  timeZone: Instants.toronto)
        let report = try renamed.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(report.withdrawals.count == 6 && report.withdrawals.allSatisfy { $0.cause == .ruleRemoved && $0.rule == "old-rule" })
        #expect(report.notifications.count == 6 && report.notifications.allSatisfy { $0.rule == "old-rule-v2" })
        let stored = try #require(try outbox.notification(id: report.withdrawals[0].notification.id))
        #expect(stored.lastError == "withdrawn: rule old-rule is no longer in the config (at 2026-11-24T15:01:00.000Z)", "\(stored.lastError ?? "")")
        #expect((try outbox.counts().pending, try outbox.counts().withdrawn) == (6, 6))
    }

    /// A destination taken out of a rule's `destinations` (and still defined, for other
    /// rules) is no longer that rule's route: what the rule queued for it is withdrawn; its
    /// notifications for the destinations it keeps stay, and so does the dedup state.
    @Test func theQueueOfADestinationARuleNoLongerNamesIsWithdrawn() throws {
        _ = try engine().scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        // One of the chat notifications died meanwhile (a 400).
        let died = try #require(try outbox.notifications(in: [.pending], ticket: 1).first { $0.destination == "chat" })
        try outbox.record(DeliveryAttempt(notificationID: died.id, attempt: 1, startedAt: t0, durationMilliseconds: 5, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: t0)
        // Taken out of the config altogether (removed, or renamed), chat's queue is withdrawn
        // too, saying so (a scan alone: nothing is committed here).
        let removed = try engine(destinations: ["automation"])
        #expect(removed.destinations == ["automation"])
        let gone = try removed.scan(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(30)).withdrawals
        #expect(gone.count == 2 && gone.allSatisfy { $0.cause == .destinationRemoved && $0.notification.destination == "chat" })
        #expect(Withdrawal.reason(rule: "old-rule", cause: .destinationRemoved, at: t0)
                == "withdrawn: the destination is no longer in the config, and rule old-rule no longer names it (at 2026-11-24T15:00:00.000Z)")
        // Still defined, only no longer this rule's: its queue for chat is withdrawn.
        var narrowed = try engine(destinations: ["automation"])
        narrowed.destinations = ["automation", "chat"]
        let report = try narrowed.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(report.withdrawals.count == 2 && report.withdrawals.allSatisfy { $0.cause == .destinationDropped && $0.notification.destination == "chat" })
        #expect(report.notifications.isEmpty, "the tickets count as notified: their automation notifications are still queued")
        let stored = try #require(try outbox.notification(id: report.withdrawals[0].notification.id))
        #expect(stored.lastError == "withdrawn: rule old-rule no longer names this destination in its destinations (at 2026-11-24T15:01:00.000Z)",
                "\(stored.lastError ?? "")")
        #expect((try outbox.counts().pending, try outbox.counts().withdrawn) == (3, 2))
        let again = try narrowed.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(120))
        #expect(again.withdrawals.isEmpty && again.notifications.isEmpty)

        // `queue retry` leaves the dead one of that route dead, saying why.
        let review = RequeueReview.review(try outbox.deadNotifications(), rules: narrowed.rules, destinations: ["automation", "chat"]) { _, ids in Set(ids) }
        #expect(review.requeue.isEmpty)
        #expect(review.kept.map { $0.reason } == [RequeueReview.Reason.destinationDropped])
    }

    /// A rule without `status_in` reads by date and does not select a garbage date at all:
    /// its ticket is read again by id, found unreadable, and its notification kept.
    @Test func aGarbageDateUnderARuleWithoutStatusInKeepsItsNotifications() throws {
        let engine = RulesEngine(rules: [try RuleSpecs.make("open", MatchSpec(statusNotIn: ["completed"]), destinations: ["automation"])],
                                 timeZone: Instants.toronto)
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try database.appWrite("UPDATE tickets SET scheduled_date = '24/11/2026' WHERE id = 1; UPDATE tickets SET status = 'completed' WHERE id = 2")
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(report.withdrawals.map(\.notification.ticket) == [2])
        #expect(try allNotifications(ticket: 1).allSatisfy { $0.status == .pending })
    }

    /// A date that looks like one but is not (`2026-13-01`) sorts after the rule's bound: the
    /// rule's read does not select it, the read again by id finds it unreadable, and the
    /// notification is kept with a warning, not silently.
    @Test func aQueuedTicketWhoseDateTurnedUnreadableIsKeptWithAWarning() throws {
        let engine = try engine()
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-13-01' WHERE id = 1")
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(report.withdrawals.isEmpty)
        #expect(report.badRows.map(\.ticket) == [1])
        #expect(report.badRows.first?.description.contains("scheduled_date \"2026-13-01\"") == true, "\(report.badRows)")
        #expect(try allNotifications(ticket: 1).allSatisfy { $0.status == .pending })
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
