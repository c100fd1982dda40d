import Foundation
import OverduedConfig
@testable import Scheduler
@testable import Store
import Testing

/// Scan, commit, deliver, scan again: the rules engine and the outbox on real files, with
/// `now` injected at each step.
struct ScanCycleTests {
    static let rows = [
        TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", assignedTo: 1, scheduledDate: "2026-11-24 08:00:00"),
        TicketRow(id: 2, ticketID: "IGP-2026-0002", status: "diagnostic", assignedTo: 0, scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 7, ticketID: "IGP-2026-0007", status: "received", assignedTo: 2, scheduledDate: "2026-11-23"),
        TicketRow(id: 9, ticketID: "IGP-2026-0009", status: "completed", assignedTo: 2, scheduledDate: "2026-11-20 08:00:00"),
    ]

    let database: AppDatabase
    let tickets: TicketsDatabase
    let outbox: Outbox
    let t0 = Instants.now

    init() throws {
        database = try AppDatabase(Self.rows)
        tickets = try database.tickets()
        outbox = try database.outbox()
    }

    func engine(_ policy: RepeatSpec = RepeatSpec(), destinations: [String] = ["automation", "chat"]) throws -> RulesEngine {
        RulesEngine(rules: [try RuleSpecs.make("old-rule", MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                               repeat: policy, destinations: destinations)],
                    timeZone: Instants.toronto)
    }

    /// One committing tick: scan, then enqueue what it decided.
    @discardableResult
    func tick(_ engine: RulesEngine, at now: Date) throws -> ScanReport {
        let report = try engine.scan(tickets: tickets, outbox: outbox, now: now)
        try outbox.enqueue(report.notifications, dedup: report.dedupRecords)
        return report
    }

    func deliver(ticket: Int64, destinations: Set<String> = ["automation", "chat"], at now: Date) throws {
        for notification in try outbox.notifications(in: [.pending, .retrying], ticket: ticket)
        where destinations.contains(notification.destination) {
            try outbox.record(DeliveryAttempt(notificationID: notification.id, attempt: notification.attempts + 1, startedAt: now,
                                              durationMilliseconds: 12, httpStatus: 200),
                              outcome: .delivered, now: now)
        }
    }

    func deliverEverything(at now: Date) throws {
        for ticket in [Int64(1), 2, 7] { try deliver(ticket: ticket, at: now) }
    }

    @Test func notifiedOnceThenSuppressedThenNotifiedAgainAfterADay() throws {
        let engine = try engine()
        let first = try tick(engine, at: t0)
        #expect(Set(first.matches.map(\.ticket.ticket)) == [1, 2, 7])
        #expect(first.matches.allSatisfy { $0.isEnqueued })
        #expect(first.notifications.count == 6)
        #expect(try outbox.counts().pending == 6)
        try deliverEverything(at: t0.addingTimeInterval(1))

        let hourLater = try tick(engine, at: t0.addingTimeInterval(3_600))
        #expect(hourLater.matches.count == 3, "still overdue, still listed")
        #expect(hourLater.matches.allSatisfy { !$0.isEnqueued && $0.destinations.isEmpty })
        #expect(hourLater.matches.allSatisfy { $0.decision.reason.contains("repeat.every") }, "\(hourLater.matches.map(\.decision))")
        #expect(hourLater.notifications.isEmpty)
        #expect(hourLater.dedupRecords.isEmpty)
        #expect(try outbox.counts().pending == 0)
        #expect(try outbox.counts().delivered == 6)

        let nextDay = try tick(engine, at: t0.addingTimeInterval(25 * 3_600))
        #expect(nextDay.matches.allSatisfy { $0.isEnqueued })
        #expect(nextDay.notifications.count == 6)
        #expect(try outbox.counts().pending == 6)
        let records = try outbox.dedupRecords(rule: "old-rule", tickets: [1, 2, 7])
        #expect(records.values.allSatisfy { $0.lastNotifiedAt == t0.addingTimeInterval(25 * 3_600) })
        #expect(try outbox.notifications(in: [.delivered, .pending], ticket: 1).map(\.createdAt)
            == [t0.addingTimeInterval(25 * 3_600), t0.addingTimeInterval(25 * 3_600), t0, t0])
    }

    /// A clock that ran ahead and was set back (NTP, a VM restored from a snapshot) leaves the
    /// last notifications dated after now: they are not sent again (each went out again under
    /// a new webhook-id, for every ticket notified within the clock's error), and `every`
    /// runs from the moment the step was seen.
    @Test func notificationsDatedAfterAClockSetBackAreNotSentAgainAndRepeatFromThen() throws {
        let engine = try engine()
        let ahead = t0.addingTimeInterval(3_600)
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: ahead).notifications.count == 6)
        try deliverEverything(at: ahead)

        // The clock set back by an hour (and ten minutes on): nothing is queued again.
        let back = t0.addingTimeInterval(600)
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back)
        #expect(report.notifications.isEmpty, "\(report.matches.map(\.decision))")
        #expect(report.matches.allSatisfy { $0.decision == .suppress(.notifiedInTheFuture(ahead)) })
        let records = try outbox.dedupRecords(rule: "old-rule", tickets: [1, 2, 7])
        #expect(records.count == 3 && records.values.allSatisfy { $0.lastNotifiedAt == back }, "re-dated to the step's tick")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back.addingTimeInterval(300)).notifications.isEmpty)
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back.addingTimeInterval(86_399)).notifications.isEmpty)
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back.addingTimeInterval(86_400)).notifications.count == 6,
                "a day after the step was seen")
    }

    /// A record dated after the clock whose notification is still queued is not re-dated: it
    /// was never sent, and a withdrawal (the ticket closed meanwhile) gives its state back by
    /// its date; re-dated, the ticket stayed "notified" for a day with nothing sent.
    @Test func aRecordDatedAfterTheClockWhoseNotificationIsQueuedIsLeftForItsWithdrawal() throws {
        let engine = try engine()
        let ahead = t0.addingTimeInterval(3_600)
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: ahead).notifications.count == 6)
        let back = t0.addingTimeInterval(600)
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back).notifications.isEmpty)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.lastNotifiedAt == ahead, "queued: not re-dated")
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 1")
        let closed = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back.addingTimeInterval(60))
        #expect(closed.withdrawals.count == 2)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1]).isEmpty, "never sent: its state given back")
    }

    /// A notification for a destination gone from the config (withdrawn by the scan) does not
    /// keep its ticket's record dated in the future.
    @Test func aNotificationOnHoldDoesNotKeepTheRecordInTheFuture() throws {
        let ahead = t0.addingTimeInterval(3_600)
        #expect(try engine().scanAndEnqueue(tickets: tickets, outbox: outbox, now: ahead).notifications.count == 6)
        try deliver(ticket: 1, destinations: ["automation"], at: ahead)
        // The config no longer defines "chat": ticket 1's notification for it is withdrawn.
        let automationOnly = try engine(destinations: ["automation"])
        let back = t0.addingTimeInterval(600)
        _ = try automationOnly.scanAndEnqueue(tickets: tickets, outbox: outbox, now: back)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.lastNotifiedAt == back, "re-dated")
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [2])[2]?.lastNotifiedAt == ahead, "still queued for automation")
    }

    /// `once` from cron at 14:05 every day starts a little earlier or later each time:
    /// evaluated at the slot, today's run a second earlier than yesterday's is a whole day after
    /// it. At the raw instants it was short by that second and went a run (5 minutes) later.
    @Test func aRunNearItsSlotIsEvaluatedAtItSoTheNextDaysRunRepeats() throws {
        let engine = try engine()
        let schedule = TickSchedule(interval: .seconds(300), align: true)
        let slot = Date(timeIntervalSince1970: (t0.timeIntervalSince1970 / 300).rounded(.down) * 300)
        let yesterday = slot.addingTimeInterval(1.2)
        let first = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: schedule.snapped(yesterday))
        #expect(first.matches.count == 3 && first.matches.allSatisfy { $0.isEnqueued })
        let records = try outbox.dedupRecords(rule: "old-rule", tickets: [1, 2, 7])
        #expect(records.count == 3 && records.values.allSatisfy { $0.lastNotifiedAt == slot })
        try deliverEverything(at: yesterday.addingTimeInterval(1))

        // 1.6 s earlier in its slot than yesterday's run: a day less 1.6 s after it.
        let today = yesterday.addingTimeInterval(24 * 3_600 - 1.6)
        let counted = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: schedule.snapped(today))
        #expect(counted.matches.count == 3 && counted.matches.allSatisfy { $0.isEnqueued }, "\(counted.matches.map(\.decision))")
    }

    /// The dates notified are kept only where they are weighed (`once_per_scheduled_date`):
    /// kept for every rule, they grew with every new date, for good (a 40-minute soak: +90 %).
    @Test func notifiedDatesAreKeptOnlyForOncePerScheduledDateRules() throws {
        let every = try engine()
        _ = try every.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        _ = try every.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(2 * 86_400))
        #expect(try outbox.hasNotifiedDates(rule: "old-rule") == false)
        let once = try engine(RepeatSpec(oncePerScheduledDate: true))
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22 08:00:00' WHERE id = 1")
        _ = try once.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(3 * 86_400))
        let kept = try outbox.notifiedScheduledDates(rule: "old-rule", tickets: [1])
        #expect(kept == [1: ["2026-11-22 08:00:00"]], "\(kept)")
    }

    @Test func aTicketStillQueuedIsNotQueuedTwice() throws {
        let engine = try engine()
        try tick(engine, at: t0)
        try deliver(ticket: 1, at: t0.addingTimeInterval(1))
        try deliver(ticket: 7, destinations: ["automation"], at: t0.addingTimeInterval(1))
        // Ticket 2: both notifications still pending (the receiver has been down all day).

        let nextDay = try tick(engine, at: t0.addingTimeInterval(25 * 3_600))
        let byTicket = Dictionary(uniqueKeysWithValues: nextDay.matches.map { ($0.ticket.ticket, $0) })
        #expect(byTicket[1]?.destinations == ["automation", "chat"])
        #expect(byTicket[7]?.destinations == ["automation"], "chat still has one queued")
        let queued = try #require(byTicket[2])
        #expect(!queued.isEnqueued)
        #expect(queued.destinations.isEmpty)
        #expect(queued.decision.reason.contains("still queued"))
        #expect(try outbox.notifications(in: [.pending], ticket: 2).count == 2)
        #expect(try outbox.notifications(in: [.pending], ticket: 7).map(\.destination).sorted() == ["automation", "chat"])
        #expect(nextDay.notifications.count == 3)
    }

    @Test func withoutDeliveryTheDedupStateAloneSuppresses() throws {
        // Same hour, nothing delivered: the suppression must come from dedup, not only the queue.
        let engine = try engine()
        let first = try tick(engine, at: t0)
        let again = try tick(engine, at: t0.addingTimeInterval(60))
        #expect(again.notifications.isEmpty)
        #expect(again.matches.count == first.matches.count && !again.matches.isEmpty, "suppressed, not gone")
        #expect(again.matches.allSatisfy { $0.decision.reason.contains("repeat.every") })
        #expect(try outbox.counts().pending == 6)
    }

    @Test func oncePerScheduledDateNotifiesAgainOnlyWhenTheDateMoves() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true))
        let first = try tick(engine, at: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))

        let weekLater = try tick(engine, at: t0.addingTimeInterval(7 * 86_400))
        #expect(weekLater.notifications.isEmpty)
        #expect(weekLater.matches.count == first.matches.count && !weekLater.matches.isEmpty, "suppressed, not gone")
        #expect(weekLater.matches.allSatisfy { $0.decision.reason.contains("once_per_scheduled_date") })

        // The app reschedules ticket 1 (still in the past): a new deadline, notified at once.
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-30 08:00:00' WHERE id = 1")
        let rescheduled = try tick(engine, at: t0.addingTimeInterval(7 * 86_400 + 60))
        #expect(Set(rescheduled.notifications.map(\.ticket)) == [1])
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1]?.scheduledDate == "2026-11-30 08:00:00")
    }

    /// The app rewrites a date in another of its spellings (seed-schema: naive, ISO with `T`
    /// and `Z`): the same deadline, notified again by neither `once_per_scheduled_date` nor
    /// `on_change: scheduled_date`, also when it comes back to a date notified before it.
    @Test(arguments: [RepeatSpec(oncePerScheduledDate: true), RepeatSpec(onChange: [.scheduledDate])])
    func theSameDeadlineSpeltAnotherWayIsNotANewOne(policy: RepeatSpec) throws {
        let engine = try engine(policy)
        try tick(engine, at: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        // 08:00 in Toronto is 13:00Z; a date alone is the end of its day.
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24T13:00:00.000Z' WHERE id = 1")
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-23 23:59:59' WHERE id = 7")
        let respelled = try tick(engine, at: t0.addingTimeInterval(60))
        #expect(respelled.notifications.isEmpty, "\(respelled.matches.map(\.decision))")
        #expect(respelled.matches.count == 3)
        // A real move is a new deadline; back to the first one, spelt another way again.
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22 08:00:00' WHERE id = 1")
        #expect(Set(try tick(engine, at: t0.addingTimeInterval(120)).notifications.map(\.ticket)) == [1])
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24T08:00:00-05:00' WHERE id = 1")
        let back = try tick(engine, at: t0.addingTimeInterval(180))
        if policy.oncePerScheduledDate {
            #expect(back.notifications.isEmpty, "\(back.matches.map(\.decision))")
        } else {
            #expect(Set(back.notifications.map(\.ticket)) == [1], "on_change: a change from the last notification's date")
        }
    }

    /// In the hour the clocks repeat (2026-11-01 01:30 in Toronto is 05:30Z, read first, and
    /// 06:30Z), the naive time names both instants, on either side of the comparison.
    @Test func theRepeatedHourNamesBothOfItsInstantsEitherWay() {
        let naive = MatchedTicket(ticket: 1, ticketID: "T", status: "received", priority: "", assignedTo: 1,
                                  scheduledDate: "2026-11-01 01:30:00", dueAt: Date(timeIntervalSince1970: 1_793_511_000))
        #expect(RulesEngine.sameDeadline(naive, "2026-11-01T01:30:00-05:00", zone: Instants.toronto))
        #expect(RulesEngine.sameDeadline(naive, "2026-11-01T05:30:00Z", zone: Instants.toronto))
        #expect(!RulesEngine.sameDeadline(naive, "2026-11-01T07:30:00Z", zone: Instants.toronto))
        let later = MatchedTicket(ticket: 1, ticketID: "T", status: "received", priority: "", assignedTo: 1,
                                  scheduledDate: "2026-11-01T01:30:00-05:00", dueAt: Date(timeIntervalSince1970: 1_793_514_600))
        #expect(RulesEngine.sameDeadline(later, "2026-11-01 01:30:00", zone: Instants.toronto))
    }

    @Test func reassignmentReArmsWhenWatched() throws {
        let engine = try engine(RepeatSpec(onChange: [.assignedTo]))
        try tick(engine, at: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET assigned_to = 0 WHERE id = 7")
        let afterChange = try tick(engine, at: t0.addingTimeInterval(600))
        #expect(Set(afterChange.notifications.map(\.ticket)) == [7])
        let reason = try #require(afterChange.matches.first { $0.ticket.ticket == 7 }).decision.reason
        #expect(reason.contains("assigned_to"))
        let snapshot = try TicketSnapshot.decode(try #require(afterChange.notifications.first).snapshot)
        #expect(snapshot.assignedTo == 0)
        #expect(snapshot.assigneeName == "👥 Toute l'équipe")
    }

    /// Destination "automation" keeps failing, so its notification of ticket 7 stays queued;
    /// "chat" delivers. A change the rule watches must reach both: holding back is for repeats
    /// that time alone brings, and the dedup state it records says both were told.
    @Test func aChangeReachesADestinationThatStillHasANotificationQueued() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true, onChange: [.assignedTo]))
        let first = try tick(engine, at: t0)
        let waiting = try #require(first.notifications.first { $0.ticket == 7 && $0.destination == "automation" })
        try outbox.record(DeliveryAttempt(notificationID: waiting.id, attempt: 1, startedAt: t0, durationMilliseconds: 3, httpStatus: 503),
                          outcome: .retry(at: t0.addingTimeInterval(3_600)), now: t0)
        try deliver(ticket: 7, destinations: ["chat"], at: t0.addingTimeInterval(1))

        try database.appWrite("UPDATE tickets SET assigned_to = 0 WHERE id = 7")
        let afterChange = try tick(engine, at: t0.addingTimeInterval(600))
        let match = try #require(afterChange.matches.first { $0.ticket.ticket == 7 })
        #expect(match.decision == .notify(.changed(.assignedTo)))
        #expect(match.destinations == ["automation", "chat"])
        let changed = afterChange.notifications.filter { $0.ticket == 7 }
        #expect(changed.map(\.destination).sorted() == ["automation", "chat"])
        for notification in changed {
            #expect(try TicketSnapshot.decode(notification.snapshot).assignedTo == 0)
        }

        // The older notification goes first: the change waits behind it, though due sooner.
        let automationLater = try #require(changed.first { $0.destination == "automation" })
        let dueSoon = try outbox.due(destination: "automation", now: t0.addingTimeInterval(601), limit: 10)
        #expect(!dueSoon.contains { $0.ticket == 7 }, "\(dueSoon.map(\.id))")
        let dueLater = try outbox.due(destination: "automation", now: t0.addingTimeInterval(3_601), limit: 10)
        #expect(dueLater.filter { $0.ticket == 7 }.map(\.id) == [waiting.id])
        try outbox.record(DeliveryAttempt(notificationID: waiting.id, attempt: 2, startedAt: t0.addingTimeInterval(3_601),
                                          durationMilliseconds: 3, httpStatus: 200),
                          outcome: .delivered, now: t0.addingTimeInterval(3_601))
        let next = try outbox.due(destination: "automation", now: t0.addingTimeInterval(3_602), limit: 10)
        #expect(next.filter { $0.ticket == 7 }.map(\.id) == [automationLater.id])

        // Nothing new since: no one is notified again.
        let quiet = try tick(engine, at: t0.addingTimeInterval(7_200))
        #expect(quiet.notifications.isEmpty)
    }

    /// A new scheduled date under `once_per_scheduled_date` is a change too.
    @Test func aNewScheduledDateReachesADestinationThatStillHasANotificationQueued() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true))
        try tick(engine, at: t0)
        try deliver(ticket: 1, destinations: ["chat"], at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24 09:00:00' WHERE id = 1")
        let rescheduled = try tick(engine, at: t0.addingTimeInterval(600))
        #expect(rescheduled.notifications.filter { $0.ticket == 1 }.map(\.destination).sorted() == ["automation", "chat"])
        #expect(try outbox.notifications(in: [.pending], ticket: 1).count == 3)
    }

    @Test func pruningHistoryDoesNotReArmTickets() throws {
        let engine = try engine()
        try tick(engine, at: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        #expect(try outbox.pruneHistory(before: t0.addingTimeInterval(3_600)).removed == 6)
        let later = try tick(engine, at: t0.addingTimeInterval(2 * 3_600))
        #expect(later.notifications.isEmpty, "dedup must not depend on history retention")
    }

    /// Two processes (the daemon's tick and an operator's `scan`) scan the same state at once:
    /// whichever enqueues second must not queue the same tickets again under new ids. Its
    /// enqueue leaves out the tickets whose dedup record changed since its scan read it, and
    /// reports them as notified meanwhile; tickets the other did not touch are still queued.
    @Test func aScanOverTakenByAnotherEnqueueLeavesOutWhatTheOtherQueued() throws {
        let engine = try self.engine()
        let other = try database.outbox()              // another process's connection
        let late = try engine.scan(tickets: tickets, outbox: outbox, now: t0)
        #expect(late.notifications.count == 6)
        // The other process notifies ticket 2 only (its own rule set, say), after `late` read.
        let first = try engine.scan(tickets: tickets, outbox: other, now: t0)
        try other.enqueue(first.notifications.filter { $0.ticket == 2 }, dedup: first.dedupRecords.filter { $0.ticket == 2 })

        let expecting = Outbox.DedupExpectation(generation: late.dedupGeneration, lastNotified: late.dedupExpectations)
        let conflicts = try outbox.enqueue(late.notifications, dedup: late.dedupRecords, expecting: expecting)
        #expect(conflicts == [Outbox.DedupKey(rule: "old-rule", ticket: 2)])
        var queued: [Int64: Int] = [:]
        for ticket in [Int64(1), 2, 7] { queued[ticket] = try outbox.notifications(in: [.pending], ticket: ticket).count }
        #expect(queued == [1: 2, 2: 2, 7: 2], "ticket 2 once per destination, by the other process only")

        // scanAndEnqueue says so in its report.
        let again = try database.outbox()
        try database.appWrite("UPDATE tickets SET assigned_to = 2 WHERE id = 1")
        let changed = try self.engine(RepeatSpec(onChange: [.assignedTo]))
        let racing = try changed.scan(tickets: tickets, outbox: again, now: t0.addingTimeInterval(60))
        _ = try changed.scanAndEnqueue(tickets: tickets, outbox: other, now: t0.addingTimeInterval(60))
        let expectingAgain = Outbox.DedupExpectation(generation: racing.dedupGeneration, lastNotified: racing.dedupExpectations)
        #expect(try again.enqueue(racing.notifications, dedup: racing.dedupRecords, expecting: expectingAgain)
            == [Outbox.DedupKey(rule: "old-rule", ticket: 1)])
    }

    /// The report of a scan that lost the race names those tickets as notified meanwhile.
    @Test func theReportOfAnOvertakenEnqueueSaysNotifiedMeanwhile() throws {
        let engine = try engine()
        var report = try engine.scan(tickets: tickets, outbox: outbox, now: t0)
        report.leaveOut([Outbox.DedupKey(rule: "old-rule", ticket: 7)])
        #expect(report.notifications.map(\.ticket).sorted() == [1, 1, 2, 2])
        #expect(report.dedupRecords.map(\.ticket).sorted() == [1, 2])
        #expect(report.dedupExpectations.count == 2)
        let seven = try #require(report.matches.first { $0.ticket.ticket == 7 })
        #expect(seven.decision == .suppress(.notifiedMeanwhile) && !seven.isEnqueued)
    }

    /// Under `once_per_scheduled_date`, a date moved back to one already notified is not new:
    /// one notification per (ticket, scheduled_date value), as the old system's rule was.
    /// The app's database is restored from a backup taken before ticket 7 was created, and its
    /// id goes to a new ticket with the same scheduled date: it is notified (once), and
    /// nothing of the lost ticket's memory stays with it (its dates, its past).
    @Test func aNewTicketUnderTheIDOfALostOneIsNotified() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true), destinations: ["automation"])
        let first = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        #expect(first.notifications.count == 3)
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22' WHERE id = 7")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60)).notifications.map(\.ticket) == [7])
        try deliverEverything(at: t0.addingTimeInterval(120))

        try database.appWrite("DELETE FROM tickets WHERE id = 7")
        try database.appWrite("""
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (7, 'IGP-2026-0010', 'Capteur', '', 1, 'received', 'high', 1, 2, '2026-11-23')
            """)
        let restored = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(3_600))
        #expect(restored.notifications.map(\.ticket) == [7])
        #expect(restored.notifications.map(\.ticketID) == ["IGP-2026-0010"])
        let match = try #require(restored.matches.first { $0.ticket.ticket == 7 })
        #expect(match.decision == .notify(.anotherTicket(notified: "IGP-2026-0007")))
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [7])[7]?.ticketID == "IGP-2026-0010")
        #expect(try outbox.notifiedScheduledDates(rule: "old-rule", tickets: [7])[7] == ["2026-11-23"],
                "the lost ticket's dates are forgotten")

        let again = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(7_200))
        #expect(again.notifications.isEmpty)
        // Moved to the date the lost ticket had moved to: a new date for this ticket.
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-22' WHERE id = 7")
        let moved = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(7_260))
        #expect(moved.notifications.map(\.ticket) == [7], "\(moved.matches.map(\.decision.reason))")
    }

    /// A notification of the lost ticket still queued at the restore (its receiver was down)
    /// is withdrawn, not sent describing a ticket that is gone ahead of the new one's; the new
    /// ticket's record is written as if nothing else had happened.
    @Test func theQueueOfALostTicketWhoseIDIsReusedIsWithdrawn() throws {
        let engine = try engine(destinations: ["automation"])
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        let lost = try #require(try outbox.notifications(in: [.pending], ticket: 7).first)
        try database.appWrite("UPDATE tickets SET ticket_id = 'IGP-2026-0010', title = 'Capteur' WHERE id = 7")
        let restored = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60))
        #expect(restored.withdrawals.map(\.notification.id) == [lost.id])
        #expect(restored.withdrawals.map(\.cause) == [.ticketReplaced])
        #expect(restored.notifications.map(\.ticketID) == ["IGP-2026-0010"], "\(restored.matches.map(\.decision.reason))")
        #expect(try outbox.notification(id: lost.id)?.status == .withdrawn)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [7])[7]?.ticketID == "IGP-2026-0010")
        let due = try outbox.due(destination: "automation", now: t0.addingTimeInterval(120), limit: 10)
        #expect(due.filter { $0.ticket == 7 }.map(\.ticketID) == ["IGP-2026-0010"])
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(180)).withdrawals.isEmpty)
    }

    /// The new ticket's notification withdrawn before it went out (closed at once): the
    /// memory goes back to the lost ticket's, which is still not this ticket's.
    @Test func aWithdrawnNotificationOfANewTicketUnderAReusedIDLeavesItUnnotified() throws {
        let engine = try engine(destinations: ["automation"])
        _ = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0)
        try deliverEverything(at: t0.addingTimeInterval(1))
        try database.appWrite("UPDATE tickets SET ticket_id = 'IGP-2026-0010' WHERE id = 7")
        #expect(try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(60)).notifications.map(\.ticket) == [7])
        try database.appWrite("UPDATE tickets SET status = 'completed' WHERE id = 7")
        let closed = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(120))
        #expect(closed.withdrawals.map(\.notification.ticket) == [7])
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [7])[7]?.ticketID == "IGP-2026-0007")
        try database.appWrite("UPDATE tickets SET status = 'received' WHERE id = 7")
        let reopened = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: t0.addingTimeInterval(180))
        #expect(reopened.matches.first { $0.ticket.ticket == 7 }?.decision == .notify(.anotherTicket(notified: "IGP-2026-0007")))
    }

    @Test func aDateMovedBackToOneAlreadyNotifiedIsNotNotifiedAgain() throws {
        let engine = try engine(RepeatSpec(oncePerScheduledDate: true), destinations: ["automation"])
        let first = try tick(engine, at: t0)
        #expect(first.notifications.count == 3)
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24 10:00:00' WHERE id = 1")
        let moved = try tick(engine, at: t0.addingTimeInterval(300))
        #expect(moved.notifications.map(\.ticket) == [1], "a new date")
        try database.appWrite("UPDATE tickets SET scheduled_date = '2026-11-24 08:00:00' WHERE id = 1")
        let back = try tick(engine, at: t0.addingTimeInterval(600))
        #expect(back.notifications.isEmpty, "the first date again: \(back.matches.map(\.decision.reason))")
        #expect(back.matches.first { $0.ticket.ticket == 1 }?.decision == .suppress(.alreadyForScheduledDate("2026-11-24 08:00:00")))
    }
}

