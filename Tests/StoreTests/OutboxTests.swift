import Foundation
import GRDB
@testable import Store
import Testing
import TestSupport

/// The outbox on a real state database in a temp folder; instants are fixed, never the clock.
struct OutboxTests {
    let directory: TemporaryDirectory
    let outbox: Outbox
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    init() throws {
        directory = try TemporaryDirectory()
        outbox = Outbox(database: try StateDatabase(path: directory.url("state.sqlite")))
    }

    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    func notification(_ id: String, ticket: Int64 = 1, rule: String = "overdue", destination: String = "hook",
                      createdAt: Double = 0, nextAttemptAt: Double? = nil) -> OverdueNotification {
        OverdueNotification(id: id, rule: rule, ticket: ticket, ticketID: "IGP-2026-\(ticket)", destination: destination,
                            snapshot: Data(#"{"ticket":\#(ticket)}"#.utf8), createdAt: at(createdAt),
                            nextAttemptAt: nextAttemptAt.map(at))
    }

    func dedup(ticket: Int64, rule: String = "overdue", at seconds: Double = 0) -> DedupRecord {
        DedupRecord(rule: rule, ticket: ticket, lastNotifiedAt: at(seconds), scheduledDate: "2026-11-20 08:00:00",
                    assignedTo: 0, status: "received", priority: "high")
    }

    /// `msg_` and 32 lowercase hex digits, all 128 bits random: ids never repeat.
    @Test func notificationIDsAreMsgAnd32HexDigits() {
        let ids = (0..<2_000).map { _ in OverdueNotification.newID() }
        for id in ids {
            #expect(id.hasPrefix("msg_") && id.utf8.count == 36, "\(id)")
            #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) }, "\(id)")
        }
        #expect(Set(ids).count == ids.count)
        // Every hex digit shows up in every position over 2,000 ids (each misses with p ≈ 2e-56).
        for position in 4..<36 {
            let seen = Set(ids.map { Array($0.utf8)[position] })
            #expect(seen.count == 16, "position \(position)")
        }
    }

    @Test func enqueueWritesNotificationsAndDedupStateTogether() throws {
        let queued = notification("msg_a", ticket: 7)
        try outbox.enqueue([queued], dedup: [dedup(ticket: 7)])

        let stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored == queued)
        #expect(stored.status == .pending)
        #expect(stored.attempts == 0)
        #expect(stored.nextAttemptAt == t0)
        #expect(try outbox.dedupRecords(rule: "overdue", tickets: [7]) == [7: dedup(ticket: 7)])
        #expect(try outbox.dedupRecords(rule: "other-rule", tickets: [7]).isEmpty)
    }

    /// Many rows go in 100 per statement: 250 notifications are two full statements and a
    /// shorter one. Every value arrives as given (empty text stays '', not NULL; non-ASCII
    /// and quotes intact), and a ticket twice in one batch of dedup records ends with the
    /// later record, as one statement per row would leave it.
    @Test func enqueueWritesEveryRowOfSeveralStatementsExactly() throws {
        let notifications = (1...250).map { n in
            OverdueNotification(id: "msg_\(n)", rule: "overdue", ticket: Int64(n), ticketID: n == 7 ? "" : "IGP-2026-\(n) «é» 'q'",
                                destination: "hook", snapshot: Data(#"{"ticket":\#(n),"title":"Fuite \"🔥\""}"#.utf8),
                                createdAt: at(Double(n)))
        }
        var records = (1...250).map { dedup(ticket: Int64($0), at: Double($0)) }
        records.append(DedupRecord(rule: "overdue", ticket: 3, lastNotifiedAt: at(9_999), scheduledDate: nil, assignedTo: nil,
                                   status: "diagnostic", priority: ""))
        try outbox.enqueue(notifications, dedup: records)

        #expect(try outbox.counts().pending == 250)
        for n in [1, 7, 100, 101, 200, 201, 250] {
            let stored = try #require(try outbox.notification(id: "msg_\(n)"))
            #expect(stored == notifications[n - 1])
        }
        let stored = try outbox.dedupRecords(rule: "overdue", tickets: (1...250).map(Int64.init))
        #expect(stored.count == 250)
        #expect(stored[250] == records[249])
        #expect(stored[3]?.lastNotifiedAt == at(9_999))
        #expect(stored[3]?.scheduledDate == nil && stored[3]?.assignedTo == nil && stored[3]?.priority == "")
    }

    /// A row that fails in the third statement of a batch undoes the two before it.
    @Test func aRowFailingLateInABatchUndoesTheWholeBatch() throws {
        try outbox.enqueue([notification("msg_taken", ticket: 999)], dedup: [])
        var notifications = (1...240).map { notification("msg_\($0)", ticket: Int64($0)) }
        notifications[229] = notification("msg_taken", ticket: 230)
        #expect(throws: StoreError.self) {
            try outbox.enqueue(notifications, dedup: (1...240).map { dedup(ticket: Int64($0)) })
        }
        #expect(try outbox.counts().pending == 1)
        #expect(try outbox.notification(id: "msg_1") == nil)
        #expect(try outbox.dedupRecords(rule: "overdue", tickets: (1...240).map(Int64.init)).isEmpty)
    }

    @Test func aFailingEnqueueWritesNeitherNotificationsNorDedupState() throws {
        try outbox.enqueue([notification("msg_taken", ticket: 1)], dedup: [])
        // The second notification reuses an id: the whole transaction must roll back.
        #expect(throws: StoreError.self) {
            try outbox.enqueue([notification("msg_new", ticket: 2), notification("msg_taken", ticket: 3)],
                               dedup: [dedup(ticket: 2), dedup(ticket: 3)])
        }
        #expect(try outbox.notification(id: "msg_new") == nil)
        #expect(try outbox.dedupRecords(rule: "overdue", tickets: [2, 3]).isEmpty)
        #expect(try outbox.counts().pending == 1)
    }

    @Test func dedupRecordsAreReplacedPerRuleAndTicket() throws {
        try outbox.recordDedup([dedup(ticket: 1, at: 0), dedup(ticket: 1, rule: "second", at: 10)])
        var newer = dedup(ticket: 1, at: 3600)
        newer.assignedTo = 5
        newer.source = "legacy"
        try outbox.recordDedup([newer])
        let records = try outbox.dedupRecords(rule: "overdue", tickets: [1, 2])
        #expect(records == [1: newer])
        #expect(try outbox.dedupRecords(rule: "second", tickets: [1])[1]?.lastNotifiedAt == at(10))
    }

    @Test func dedupLookupsWorkForMoreTicketsThanOneStatementTakes() throws {
        let tickets = (1...1_200).map(Int64.init)
        try outbox.recordDedup(tickets.map { dedup(ticket: $0) })
        try outbox.enqueue(tickets.map { notification("msg_\($0)", ticket: $0) }, dedup: [])
        #expect(try outbox.dedupRecords(rule: "overdue", tickets: tickets).count == 1_200)
        #expect(try outbox.openNotifications(rule: "overdue", tickets: tickets).count == 1_200)
    }

    /// The records are read by walking the rule's range; when most of it is records not asked
    /// for, the walk stops and the rest are looked up by key. Either way: exactly the records
    /// asked for, of this rule only, whatever the order and repeats of the request.
    @Test(arguments: [
        ("every ticket", Array(Int64(1)...600)),
        ("every tenth", stride(from: Int64(10), through: 600, by: 10).map { $0 }),
        ("a few far apart, the walk stops", [Int64(2), 3, 590, 599, 600, 601, 9_999]),
        ("unsorted with repeats", [Int64(500), 7, 7, 42, 500, 1]),
        ("none recorded", [Int64(1_000), 2_000]),
    ])
    func dedupRecordsAreExactlyTheOnesAskedFor(_ label: String, _ tickets: [Int64]) throws {
        try outbox.recordDedup((1...600).map { dedup(ticket: $0, at: Double($0)) } + [dedup(ticket: 7, rule: "other", at: -1)])
        let records = try outbox.dedupRecords(rule: "overdue", tickets: tickets)
        let expected = Set(tickets.filter { (1...600).contains($0) })
        #expect(Set(records.keys) == expected, "\(label)")
        for (ticket, record) in records {
            #expect(record == dedup(ticket: ticket, at: Double(ticket)), "\(label)")
        }
    }

    @Test func dueReturnsTheOldestDueFirstAndNothingBeforeItsTime() throws {
        try outbox.enqueue([
            notification("msg_late", ticket: 1, createdAt: 0, nextAttemptAt: 10),
            notification("msg_first", ticket: 2, createdAt: 2, nextAttemptAt: 0),
            notification("msg_second", ticket: 3, createdAt: 1, nextAttemptAt: 5),
            notification("msg_tie_b", ticket: 4, createdAt: 4, nextAttemptAt: 6),
            notification("msg_tie_a", ticket: 5, createdAt: 3, nextAttemptAt: 6),
            notification("msg_other", ticket: 1, destination: "chat", createdAt: 0, nextAttemptAt: 0),
        ], dedup: [])

        #expect(try outbox.due(destination: "hook", now: at(6), limit: 10).map(\.id)
            == ["msg_first", "msg_second", "msg_tie_a", "msg_tie_b"])
        #expect(try outbox.due(destination: "hook", now: at(6), limit: 2).map(\.id) == ["msg_first", "msg_second"])
        #expect(try outbox.due(destination: "hook", now: at(6), limit: 2, excluding: ["msg_first"]).map(\.id)
            == ["msg_second", "msg_tie_a"])
        #expect(try outbox.due(destination: "hook", now: at(-1), limit: 10).isEmpty)
        #expect(try outbox.due(destination: "hook", now: at(10), limit: 10).count == 5)
        #expect(try outbox.due(destination: "chat", now: at(10), limit: 10).map(\.id) == ["msg_other"])
    }

    /// A later notification of the same rule and ticket to the same destination (a change
    /// queued while the first was retrying) waits for the earlier one, even when due first;
    /// another rule, ticket or destination does not.
    @Test func aLaterNotificationOfTheSameTicketWaitsForTheEarlierOne() throws {
        try outbox.enqueue([
            notification("msg_earlier", ticket: 1, createdAt: 0, nextAttemptAt: 100),
            notification("msg_change", ticket: 1, createdAt: 10),
            notification("msg_other_rule", ticket: 1, rule: "other", createdAt: 10),
            notification("msg_other_ticket", ticket: 2, createdAt: 10),
            notification("msg_other_destination", ticket: 1, destination: "chat", createdAt: 10),
        ], dedup: [])
        #expect(try outbox.due(destination: "hook", now: at(50), limit: 10).map(\.id) == ["msg_other_rule", "msg_other_ticket"])
        #expect(try outbox.due(destination: "hook", now: at(100), limit: 10).map(\.id) == ["msg_other_rule", "msg_other_ticket", "msg_earlier"])
        #expect(try outbox.due(destination: "chat", now: at(50), limit: 10).map(\.id) == ["msg_other_destination"])
        // Given up: it no longer holds the change back.
        try outbox.record(DeliveryAttempt(notificationID: "msg_earlier", attempt: 1, startedAt: at(100), durationMilliseconds: 1, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: at(100))
        #expect(try outbox.due(destination: "hook", now: at(100), limit: 10).map(\.id) == ["msg_change", "msg_other_rule", "msg_other_ticket"])
    }

    /// "Earlier" is the order the notifications were queued in: after the clock was set back,
    /// the newer one carries an older `created_at` and must still wait.
    @Test func aNotificationQueuedLaterWaitsEvenWhenItsClockReadEarlier() throws {
        try outbox.enqueue([notification("msg_first", ticket: 1, createdAt: 100, nextAttemptAt: 200)], dedup: [])
        try outbox.enqueue([notification("msg_after_clock_set_back", ticket: 1, createdAt: 40)], dedup: [])
        #expect(try outbox.due(destination: "hook", now: at(150), limit: 10).isEmpty)
        #expect(try outbox.due(destination: "hook", now: at(200), limit: 10).map(\.id) == ["msg_first"])
    }

    /// A change queued behind a notification waiting for a retry takes that one's due time,
    /// and follows it when the retry is put off again: reads of the due notifications never
    /// walk changes that must wait anyway. Once the older one is delivered, the next is due.
    @Test func aNotificationQueuedBehindARetryWaitsUntilItsTime() throws {
        try outbox.enqueue([notification("msg_older", createdAt: 0)], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_older", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 503),
                          outcome: .retry(at: at(86_400)), now: at(1))
        try outbox.enqueue([notification("msg_change", createdAt: 10), notification("msg_other", ticket: 2, createdAt: 10)],
                           dedup: [], mayQueueBehind: ["msg_change", "msg_other"])
        #expect(try outbox.notification(id: "msg_change")?.nextAttemptAt == at(86_400))
        #expect(try outbox.notification(id: "msg_other")?.nextAttemptAt == at(10), "nothing queued before it")
        #expect(try outbox.dueCount(at: at(100)) == 1)

        try outbox.record(DeliveryAttempt(notificationID: "msg_older", attempt: 2, startedAt: at(86_400), durationMilliseconds: 1, httpStatus: 503),
                          outcome: .retry(at: at(2 * 86_400)), now: at(86_400))
        #expect(try outbox.notification(id: "msg_change")?.nextAttemptAt == at(2 * 86_400))
        try outbox.record(DeliveryAttempt(notificationID: "msg_older", attempt: 3, startedAt: at(2 * 86_400), durationMilliseconds: 1, httpStatus: 200),
                          outcome: .delivered, now: at(2 * 86_400))
        #expect(try outbox.due(destination: "hook", now: at(2 * 86_400), limit: 10).map(\.id) == ["msg_other", "msg_change"])
    }

    @Test func deliveredIsRecordedWithItsAttempt() throws {
        try outbox.enqueue([notification("msg_a")], dedup: [])
        let body = String(repeating: "x", count: 5_000)
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 1, startedAt: at(1), durationMilliseconds: 42,
                                          httpStatus: 200, responseBody: body), outcome: .delivered, now: at(2))

        let stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored.status == .delivered)
        #expect(stored.deliveredAt == at(2))
        #expect(stored.attempts == 1)
        #expect(stored.lastHTTPStatus == 200)
        #expect(stored.lastError == nil)
        #expect(try outbox.due(destination: "hook", now: at(100), limit: 10).isEmpty)

        let attempts = try outbox.attempts(notificationID: "msg_a")
        try #require(attempts.count == 1)
        #expect(attempts[0].attempt == 1)
        #expect(attempts[0].startedAt == at(1))
        #expect(attempts[0].durationMilliseconds == 42)
        #expect(attempts[0].httpStatus == 200)
        #expect(attempts[0].responseBody == String(repeating: "x", count: 1_024))
    }

    @Test func theDedupGenerationMovesWithEveryDedupChangeWhoeverMakesIt() throws {
        let start = try outbox.dedupGeneration()
        try outbox.enqueue([notification("msg_a")], dedup: [dedup(ticket: 1)])
        let inserted = try outbox.dedupGeneration()
        #expect(inserted > start)
        try outbox.recordDedup([dedup(ticket: 1, at: 60)])
        let updated = try outbox.dedupGeneration()
        #expect(updated > inserted)
        try outbox.enqueue([notification("msg_b", ticket: 2)], dedup: [])
        #expect(try outbox.dedupGeneration() == updated, "a notification alone is no dedup change")
        // Another process (sqlite3) deleting a record moves it too: a trigger keeps it.
        let queue = try DatabaseQueue(path: directory.url("state.sqlite"))
        try queue.write { db in try db.execute(sql: "DELETE FROM dedup_state WHERE ticket = 1") }
        try queue.close()
        #expect(try outbox.dedupGeneration() > updated)
    }

    @Test func theOutboxKeepsWorkingAfterTheStateDatabaseGivesBackItsMemory() throws {
        try outbox.enqueue([notification("msg_a")], dedup: [dedup(ticket: 1)])
        #expect(try outbox.due(destination: "hook", now: at(1), limit: 10).map(\.id) == ["msg_a"])
        let generation = try outbox.dedupGeneration()
        outbox.database.releaseMemory()   // readers closed as they become free, reopened on demand
        #expect(try outbox.due(destination: "hook", now: at(1), limit: 10).map(\.id) == ["msg_a"])
        #expect(try outbox.dedupGeneration() == generation)
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 1, startedAt: at(1), durationMilliseconds: 5, httpStatus: 200),
                          outcome: .delivered, now: at(2))
        outbox.database.releaseMemory()
        #expect(try outbox.notification(id: "msg_a")?.status == .delivered)
    }

    @Test func aBatchOfAttemptsIsRecordedWhollyOrNotAtAll() throws {
        try outbox.enqueue([notification("msg_a"), notification("msg_b", ticket: 2)], dedup: [])
        func attempt(_ id: String) -> DeliveryAttempt {
            DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(1), durationMilliseconds: 5, httpStatus: 200)
        }
        // msg_x does not exist: its attempt row breaks the foreign key, and the batch with it.
        #expect(throws: StoreError.self) {
            try outbox.record([RecordedAttempt(attempt: attempt("msg_a"), outcome: .delivered, at: at(2)),
                               RecordedAttempt(attempt: attempt("msg_x"), outcome: .delivered, at: at(2))])
        }
        #expect(try outbox.notification(id: "msg_a")?.status == .pending, "nothing of a failed batch is kept")
        #expect(try outbox.attempts(notificationID: "msg_a").isEmpty)

        try outbox.record([RecordedAttempt(attempt: attempt("msg_a"), outcome: .delivered, at: at(2)),
                           RecordedAttempt(attempt: attempt("msg_b"), outcome: .retry(at: at(60)), at: at(3))])
        #expect(try outbox.notification(id: "msg_a")?.deliveredAt == at(2))
        #expect(try outbox.notification(id: "msg_b")?.status == .retrying)
        #expect(try outbox.attempts(notificationID: "msg_b").map(\.attempt) == [1])
    }

    @Test func aResponseBodyIsCutToOneKilobyteWithoutBreakingUTF8() throws {
        // "€" is 3 bytes: 1024 bytes hold 341 of them and one byte of the next.
        let attempt = DeliveryAttempt(notificationID: "m", attempt: 1, startedAt: t0, durationMilliseconds: 1,
                                      responseBody: String(repeating: "€", count: 1_000))
        let body = try #require(attempt.responseBody)
        #expect(body.hasPrefix(String(repeating: "€", count: 341)))
        #expect(body.count <= 342)
        #expect(body.utf8.count <= 1_024 + 3)
    }

    @Test func retriesAndDeathAreRecordedAttemptByAttempt() throws {
        try outbox.enqueue([notification("msg_a")], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 1, startedAt: at(0), durationMilliseconds: 10_000,
                                          error: "timed out"), outcome: .retry(at: at(5)), now: at(10))
        var stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored.status == .retrying)
        #expect(stored.nextAttemptAt == at(5))
        #expect(stored.attempts == 1)
        #expect(stored.lastError == "timed out")
        #expect(try outbox.due(destination: "hook", now: at(4), limit: 10).isEmpty)
        #expect(try outbox.due(destination: "hook", now: at(5), limit: 10).map(\.id) == ["msg_a"])

        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 2, startedAt: at(5), durationMilliseconds: 30,
                                          httpStatus: 503, responseBody: "busy"), outcome: .retry(at: at(60)), now: at(5))
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 3, startedAt: at(60), durationMilliseconds: 20,
                                          httpStatus: 404, responseBody: "no such hook"),
                          outcome: .dead(reason: "HTTP 404: permanent"), now: at(61))
        stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored.status == .dead)
        #expect(stored.deadAt == at(61))
        #expect(stored.attempts == 3)
        #expect(stored.lastHTTPStatus == 404)
        #expect(stored.lastError == "HTTP 404: permanent")
        #expect(try outbox.due(destination: "hook", now: at(1_000), limit: 10).isEmpty)

        let attempts = try outbox.attempts(notificationID: "msg_a")
        #expect(attempts.map(\.attempt) == [1, 2, 3])
        #expect(attempts.map(\.httpStatus) == [nil, 503, 404])
        #expect(attempts.map(\.error) == ["timed out", nil, nil])
        #expect(attempts.map(\.responseBody) == [nil, "busy", "no such hook"])
    }

    @Test func aLateRetryNeverUndoesADelivery() throws {
        try outbox.enqueue([notification("msg_a")], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 1, startedAt: at(0), durationMilliseconds: 5, httpStatus: 200),
                          outcome: .delivered, now: at(1))
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 2, startedAt: at(0), durationMilliseconds: 5, error: "reset"),
                          outcome: .retry(at: at(30)), now: at(2))
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 3, startedAt: at(0), durationMilliseconds: 5, httpStatus: 410),
                          outcome: .dead(reason: "gone"), now: at(3))
        let stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored.status == .delivered)
        #expect(stored.deadAt == nil)
        #expect(try outbox.attempts(notificationID: "msg_a").count == 3)
    }

    /// A notification withdrawn while its request was under way stays withdrawn when that
    /// attempt gives up: it is recorded, and not listed dead (`queue retry --dead` would send it).
    @Test func aLateGiveUpNeverUndoesAWithdrawal() throws {
        try outbox.enqueue([notification("msg_a")], dedup: [])
        #expect(try outbox.withdraw(["msg_a"], at: at(1), reason: "withdrawn: closed") == ["msg_a"])
        try outbox.record(DeliveryAttempt(notificationID: "msg_a", attempt: 1, startedAt: at(0), durationMilliseconds: 5, httpStatus: 410),
                          outcome: .dead(reason: "gone"), now: at(2))
        let stored = try #require(try outbox.notification(id: "msg_a"))
        #expect(stored.status == .withdrawn)
        #expect(stored.deadAt == nil)
        #expect(try outbox.attempts(notificationID: "msg_a").count == 1)
        #expect(try outbox.deadNotifications().isEmpty)
    }

    @Test func deadNotificationsAreRequeuedOneOrAll() throws {
        try outbox.enqueue((1...4).map { notification("msg_\($0)", ticket: Int64($0)) }, dedup: [])
        for id in ["msg_1", "msg_2", "msg_3"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(0), durationMilliseconds: 1, httpStatus: 400),
                              outcome: .dead(reason: "HTTP 400"), now: at(1))
        }
        var counts = try outbox.counts()
        #expect((counts.pending, counts.dead) == (1, 3))

        #expect(try outbox.requeue(id: "msg_1", now: at(100)))
        let requeued = try #require(try outbox.notification(id: "msg_1"))
        #expect(requeued.status == .retrying)
        #expect(requeued.nextAttemptAt == at(100))
        #expect(requeued.deadAt == nil)
        #expect(requeued.attempts == 1, "the attempt count continues")
        #expect(requeued.requeuedAt == at(100), "the retry budget starts again")
        #expect(requeued.attemptsBeforeRequeue == 1)
        #expect(try !outbox.requeue(id: "msg_1", now: at(100)), "no longer dead")
        #expect(try !outbox.requeue(id: "msg_4", now: at(100)), "pending, not dead")
        #expect(try !outbox.requeue(id: "msg_nope", now: at(100)))

        #expect(try outbox.requeueAllDead(now: at(200)) == 2)
        #expect(try outbox.requeueAllDead(now: at(200)) == 0)
        #expect(try outbox.notification(id: "msg_2")?.requeuedAt == at(200))
        #expect(try outbox.notification(id: "msg_1")?.requeuedAt == at(100), "not dead: not requeued again")
        counts = try outbox.counts()
        #expect((counts.pending, counts.retrying, counts.delivered, counts.dead) == (1, 3, 0, 0))
        #expect(counts.depth == 4)
        #expect(try outbox.due(destination: "hook", now: at(200), limit: 10).count == 4)
    }

    /// `queue retry` weighs each dead notification before requeueing it: a newer notification
    /// of the same rule, ticket and destination, queued or delivered since, supersedes it.
    @Test func aDeadNotificationKnowsTheNewerOneThatSupersedesIt() throws {
        try outbox.enqueue([notification("msg_old", ticket: 7, createdAt: 0), notification("msg_other", ticket: 8, createdAt: 0),
                            notification("msg_elsewhere", ticket: 7, destination: "slack", createdAt: 0)], dedup: [])
        for id in ["msg_old", "msg_other", "msg_elsewhere"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 400),
                              outcome: .dead(reason: "HTTP 400"), now: at(1))
        }
        try outbox.enqueue([notification("msg_new", ticket: 7, createdAt: 86_400)], dedup: [])
        var dead = try outbox.deadNotifications()
        #expect(dead.map(\.id) == ["msg_old", "msg_other", "msg_elsewhere"])
        #expect(dead.map(\.supersededBy) == ["msg_new", nil, nil], "same rule, ticket and destination only")
        let first = try #require(dead.first)
        #expect((first.rule, first.ticket, first.ticketID, first.destination) == ("overdue", 7, "IGP-2026-7", "hook"))

        // Delivered supersedes too, and so does a newer one that died as well (it is the one
        // to requeue: both would send the stale alert first); one withdrawn does not.
        try outbox.record(DeliveryAttempt(notificationID: "msg_new", attempt: 1, startedAt: at(86_401), durationMilliseconds: 1, httpStatus: 200),
                          outcome: .delivered, now: at(86_401))
        #expect(try outbox.deadNotifications(id: "msg_old").first?.supersededBy == "msg_new")
        try outbox.enqueue([notification("msg_later", ticket: 8, createdAt: 90_000)], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_later", attempt: 1, startedAt: at(90_001), durationMilliseconds: 1, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: at(90_001))
        #expect(try outbox.deadNotifications(id: "msg_other").first?.supersededBy == "msg_later")
        #expect(try outbox.deadNotifications(id: "msg_new").isEmpty, "delivered, not dead")
        try outbox.enqueue([notification("msg_gone", ticket: 9, createdAt: 0), notification("msg_gone_new", ticket: 9, createdAt: 1_000)], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_gone", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: at(1))
        #expect(try outbox.withdraw(["msg_gone_new"], at: at(2_000), reason: "closed") == ["msg_gone_new"])
        #expect(try outbox.deadNotifications(id: "msg_gone").first?.supersededBy == nil, "withdrawn never went out")

        // Only what is still dead is requeued (here all, as `--force` does: a newer one in the
        // same requeue does not hold an older one back).
        dead = try outbox.deadNotifications()
        #expect(try outbox.requeue(rowids: dead.map(\.rowid), now: at(100_000)) == 5)
        #expect(try outbox.requeue(rowids: dead.map(\.rowid), now: at(100_000)) == 0)
        #expect(try outbox.requeue(rowids: [], now: at(100_000)) == 0)
    }

    /// `queue retry` weighs, then requeues in another transaction: a newer notification the
    /// daemon queued in between leaves the older one dead; one in the same requeue does not.
    @Test func aNotificationQueuedAfterTheWeighingLeavesTheOlderOneDead() throws {
        try outbox.enqueue([notification("msg_a", ticket: 7, createdAt: 0), notification("msg_b", ticket: 8, createdAt: 0)], dedup: [])
        for id in ["msg_a", "msg_b"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 400),
                              outcome: .dead(reason: "HTTP 400"), now: at(1))
        }
        let weighed = try outbox.deadNotifications()
        #expect(weighed.allSatisfy { $0.supersededBy == nil })
        try outbox.enqueue([notification("msg_a2", ticket: 7, createdAt: 500)], dedup: [])
        let requeued = try outbox.requeueUnlessSuperseded(rowids: weighed.map(\.rowid), now: at(600))
        #expect(requeued.count == 1)
        #expect(requeued.supersededMeanwhile.map(\.id) == ["msg_a"], "listed as left dead, for `queue retry` to say why")
        #expect(requeued.supersededMeanwhile.first?.supersededBy == "msg_a2")
        #expect(try outbox.notification(id: "msg_a")?.status == .dead)
        #expect(try outbox.notification(id: "msg_b")?.status == .retrying)
        #expect(try outbox.requeue(rowids: weighed.map(\.rowid), now: at(700)) == 1, "--force requeues it anyway")

        try outbox.enqueue([notification("msg_c", ticket: 9, createdAt: 800), notification("msg_c2", ticket: 9, createdAt: 900)], dedup: [])
        for id in ["msg_c", "msg_c2"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(901), durationMilliseconds: 1, httpStatus: 400),
                              outcome: .dead(reason: "HTTP 400"), now: at(901))
        }
        let both = try outbox.requeueUnlessSuperseded(rowids: outbox.deadNotifications().map(\.rowid), now: at(1_000))
        #expect(both.count == 2 && both.supersededMeanwhile.isEmpty, "a newer one in the same requeue holds none back")
    }

    @Test func countsByStatus() throws {
        #expect(try outbox.counts() == QueueCounts())
        try outbox.enqueue((1...5).map { notification("msg_\($0)", ticket: Int64($0)) }, dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_1", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 204),
                          outcome: .delivered, now: t0)
        try outbox.record(DeliveryAttempt(notificationID: "msg_2", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 500),
                          outcome: .retry(at: at(5)), now: t0)
        try outbox.record(DeliveryAttempt(notificationID: "msg_3", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 403),
                          outcome: .dead(reason: "HTTP 403"), now: t0)
        let counts = try outbox.counts()
        #expect((counts.pending, counts.retrying, counts.delivered, counts.dead, counts.depth) == (2, 1, 1, 1, 3))
        // The status line's counts come from the partial indexes (INDEXED BY: SQLite refuses
        // the statement rather than scan the history if one could not serve it).
        var backlog = try outbox.backlog()
        #expect((backlog.depth, backlog.dead) == (3, 1))
        #expect(try outbox.requeueAllDead(now: at(10)) == 1)
        backlog = try outbox.backlog()
        #expect((backlog.depth, backlog.dead) == (4, 0))
    }

    @Test func historyOfOneTicketIsNewestFirst() throws {
        try outbox.enqueue([
            notification("msg_old", ticket: 7, createdAt: 0),
            notification("msg_new", ticket: 7, createdAt: 86_400 * 2),
            notification("msg_mid", ticket: 7, createdAt: 86_400),
            notification("msg_elsewhere", ticket: 8, createdAt: 86_400 * 3),
        ], dedup: [])
        for id in ["msg_old", "msg_new", "msg_mid", "msg_elsewhere"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 200),
                              outcome: .delivered, now: at(86_400 * 3))
        }
        #expect(try outbox.notifications(in: [.delivered, .dead], ticket: 7).map(\.id) == ["msg_new", "msg_mid", "msg_old"])
        #expect(try outbox.notifications(in: [.delivered], ticket: 7, limit: 2).map(\.id) == ["msg_new", "msg_mid"])
        #expect(try outbox.notifications(in: [.delivered]).map(\.id) == ["msg_elsewhere", "msg_new", "msg_mid", "msg_old"])
        #expect(try outbox.notifications(in: [.pending, .retrying]).isEmpty)
    }

    @Test func openNotificationsAreThePendingAndRetryingOnes() throws {
        try outbox.enqueue([
            notification("msg_pending", ticket: 1), notification("msg_retrying", ticket: 2),
            notification("msg_delivered", ticket: 3), notification("msg_dead", ticket: 4),
            notification("msg_other_rule", ticket: 5, rule: "other"),
        ], dedup: [])
        try outbox.record(DeliveryAttempt(notificationID: "msg_retrying", attempt: 1, startedAt: t0, durationMilliseconds: 1),
                          outcome: .retry(at: at(60)), now: t0)
        try outbox.record(DeliveryAttempt(notificationID: "msg_delivered", attempt: 1, startedAt: t0, durationMilliseconds: 1),
                          outcome: .delivered, now: t0)
        try outbox.record(DeliveryAttempt(notificationID: "msg_dead", attempt: 1, startedAt: t0, durationMilliseconds: 1),
                          outcome: .dead(reason: "x"), now: t0)
        #expect(try outbox.openNotifications(rule: "overdue", tickets: [1, 2, 3, 4, 5])
            == [Outbox.OpenKey(ticket: 1, destination: "hook"), Outbox.OpenKey(ticket: 2, destination: "hook")])
    }

    @Test func pruningHistoryNeverTouchesDedupState() throws {
        try outbox.enqueue([notification("msg_old", ticket: 1, createdAt: 0), notification("msg_pending", ticket: 2, createdAt: 0),
                            notification("msg_dead", ticket: 3, createdAt: 0), notification("msg_recent", ticket: 4, createdAt: 86_400 * 40)],
                           dedup: [dedup(ticket: 1), dedup(ticket: 2), dedup(ticket: 3), dedup(ticket: 4)])
        try outbox.record(DeliveryAttempt(notificationID: "msg_old", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 200),
                          outcome: .delivered, now: at(1))
        try outbox.record(DeliveryAttempt(notificationID: "msg_dead", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: at(1))
        try outbox.record(DeliveryAttempt(notificationID: "msg_recent", attempt: 1, startedAt: t0, durationMilliseconds: 1, httpStatus: 200),
                          outcome: .delivered, now: at(86_400 * 40))

        #expect(try outbox.pruneHistory(before: at(86_400 * 30)) == Outbox.Pruned(removed: 2, more: false))
        #expect(try outbox.notification(id: "msg_old") == nil)
        #expect(try outbox.notification(id: "msg_dead") == nil)
        #expect(try outbox.attempts(notificationID: "msg_old").isEmpty, "attempts go with their notification")
        #expect(try outbox.notification(id: "msg_pending")?.status == .pending, "undelivered work is never pruned")
        #expect(try outbox.notification(id: "msg_recent")?.status == .delivered)
        #expect(try outbox.attempts(notificationID: "msg_recent").count == 1)
        // Dedup memory outlives history: pruning must not re-arm tickets 1 and 3.
        #expect(try outbox.dedupRecords(rule: "overdue", tickets: [1, 2, 3, 4]) == [
            1: dedup(ticket: 1), 2: dedup(ticket: 2), 3: dedup(ticket: 3), 4: dedup(ticket: 4),
        ])
    }

    /// The counts `overdued queue` prints, each status apart, the delivered ones counted as
    /// the rest (without reading the history's rows).
    @Test func countsTellEachStatusApart() throws {
        try outbox.enqueue((1...5).map { notification("msg_\($0)", ticket: Int64($0), createdAt: 0) }, dedup: (1...5).map { dedup(ticket: Int64($0)) })
        try outbox.record(DeliveryAttempt(notificationID: "msg_1", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 500),
                          outcome: .retry(at: at(60)), now: at(1))
        for id in ["msg_2", "msg_3"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 200),
                              outcome: .delivered, now: at(1))
        }
        try outbox.record(DeliveryAttempt(notificationID: "msg_4", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 410),
                          outcome: .dead(reason: "gone"), now: at(1))
        var expected = QueueCounts()
        (expected.pending, expected.retrying, expected.delivered, expected.dead) = (1, 1, 2, 1)
        #expect(try outbox.counts() == expected)

        // `overdued queue` reads its counts, its list, the pauses and the requests under way
        // in one transaction: the same figures, and a list holding what the counts count.
        try outbox.recordReceiverPause(ReceiverPause(destination: "hook", until: at(120), httpStatus: 503, setAt: at(1),
                                                     receiver: "http://127.0.0.1:9"))
        let listing = try outbox.queueListing(limit: 10)
        #expect(listing.counts == expected)
        #expect(Set(listing.notifications.map(\.id)) == ["msg_1", "msg_4", "msg_5"])
        #expect(listing.receiverPauses.map(\.httpStatus) == [503])
        #expect(listing.startedAttempts.isEmpty)
        #expect(try outbox.queueListing(limit: 2).notifications.count == 2)
    }

    /// History ages from its end: a notification queued 100 days ago, given up, requeued and
    /// delivered today is today's, attempts included.
    @Test func pruningCountsFromDeliveryNotQueueing() throws {
        try outbox.enqueue([notification("msg_late", ticket: 1, createdAt: 0)], dedup: [dedup(ticket: 1)])
        try outbox.record(DeliveryAttempt(notificationID: "msg_late", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 400),
                          outcome: .dead(reason: "HTTP 400"), now: at(1))
        #expect(try outbox.requeue(id: "msg_late", now: at(86_400 * 100)))
        try outbox.record(DeliveryAttempt(notificationID: "msg_late", attempt: 2, startedAt: at(86_400 * 100), durationMilliseconds: 1, httpStatus: 200),
                          outcome: .delivered, now: at(86_400 * 100))
        #expect(try outbox.pruneHistory(before: at(86_400 * 10)) == Outbox.Pruned(removed: 0, more: false))
        #expect(try outbox.notification(id: "msg_late")?.status == .delivered)
        #expect(try outbox.attempts(notificationID: "msg_late").count == 2)
        #expect(try outbox.pruneHistory(before: at(86_400 * 101)) == Outbox.Pruned(removed: 1, more: false))
    }

    /// A long backlog goes in short transactions, as many as asked; the rest is said to be left.
    @Test func pruningGoesInBoundedBatches() throws {
        try outbox.enqueue((1...7).map { notification("msg_\($0)", ticket: Int64($0), createdAt: 0) }, dedup: (1...7).map { dedup(ticket: Int64($0)) })
        for ticket in 1...7 {
            try outbox.record(DeliveryAttempt(notificationID: "msg_\(ticket)", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 200),
                              outcome: .delivered, now: at(1))
        }
        #expect(try outbox.pruneHistory(before: at(86_400), batchSize: 3, batches: 2) == Outbox.Pruned(removed: 6, more: true))
        #expect(try outbox.pruneHistory(before: at(86_400), batchSize: 3, batches: 2) == Outbox.Pruned(removed: 1, more: false))
        #expect(try outbox.pruneHistory(before: at(86_400), batchSize: 3, batches: 2) == Outbox.Pruned(removed: 0, more: false))
    }

    /// Once its time budget is spent, a call starts no more transactions (the first one always
    /// runs): the daemon's tick is not held for seconds by a long backlog.
    @Test func pruningStopsWhenItsTimeIsUp() throws {
        try outbox.enqueue((1...7).map { notification("msg_\($0)", ticket: Int64($0), createdAt: 0) }, dedup: (1...7).map { dedup(ticket: Int64($0)) })
        for ticket in 1...7 {
            try outbox.record(DeliveryAttempt(notificationID: "msg_\(ticket)", attempt: 1, startedAt: at(1), durationMilliseconds: 1, httpStatus: 200),
                              outcome: .delivered, now: at(1))
        }
        #expect(try outbox.pruneHistory(before: at(86_400), batchSize: 3, budget: .zero) == Outbox.Pruned(removed: 3, more: true))
        #expect(try outbox.pruneHistory(before: at(86_400), batchSize: 3, budget: .seconds(60)) == Outbox.Pruned(removed: 4, more: false))
    }

    @Test func newIDsAreStandardWebhooksStyleAndUnique() {
        let ids = (0..<1_000).map { _ in OverdueNotification.newID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasPrefix("msg_") && $0.count == 36 && $0.dropFirst(4).allSatisfy(\.isHexDigit) })
    }
}

extension Outbox {
    /// `queue retry ID` and `queue retry --dead --force`, as the tests use them.
    func requeue(id: String, now: Date) throws(StoreError) -> Bool {
        try requeue(rowids: deadNotifications(id: id).map(\.rowid), now: now) > 0
    }

    func requeueAllDead(now: Date) throws(StoreError) -> Int {
        try requeue(rowids: deadNotifications().map(\.rowid), now: now)
    }
}

/// Attempts written down before their request leaves (migration v10): gone with their record,
/// left behind by a process that ended first, and then found by the next deliverer.
struct StartedAttemptTests {
    @Test func aStartedAttemptGoesWithItsRecordAndIsFoundWhenLeftBehind() throws {
        let directory = try TemporaryDirectory()
        let outbox = Outbox(database: try StateDatabase(path: directory.url("state.sqlite")))
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        try outbox.enqueue(["a", "b", "c", "d"].enumerated().map { index, id in
            OverdueNotification(id: id, rule: "r", ticket: Int64(index + 1), ticketID: "T\(index + 1)", destination: id == "d" ? "gone" : "hook",
                                snapshot: Data("{}".utf8), createdAt: t0)
        }, dedup: [])
        func started(_ id: String, _ attempt: Int = 1) -> StartedAttempt {
            StartedAttempt(notificationID: id, attempt: attempt, startedAt: t0.addingTimeInterval(Double(attempt)))
        }
        try outbox.record([], starting: ["a", "b", "c", "d", "unknown"].map { started($0) })
        // a's answer is recorded: its mark goes in the same transaction.
        let delivered = DeliveryAttempt(notificationID: "a", attempt: 1, startedAt: t0, durationMilliseconds: 5, httpStatus: 200)
        try outbox.record([RecordedAttempt(attempt: delivered, outcome: .delivered, at: t0)])
        // b was cut by a stop: not an attempt.
        try outbox.record([], forgetting: ["b"])
        // c's process ended; d's destination is not configured (it waits for it to be back).
        let found = try outbox.interruptedAttempts(destinations: ["hook"])
        #expect(found.map(\.started) == [started("c")])
        #expect(found.first?.interruptedBefore == 0 && found.first?.notification.attempts == 0)

        // Counted as an interrupted attempt: the row goes, the streak grows; an answer sets it back.
        let cut = DeliveryAttempt(notificationID: "c", attempt: 1, startedAt: t0, durationMilliseconds: 0, error: "ended")
        try outbox.record([RecordedAttempt(attempt: cut, outcome: .retry(at: t0), at: t0)], interruptions: ["c": InterruptionStreak(inARow: 1, receiver: nil)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).isEmpty)
        try outbox.record([], starting: [started("c", 2)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).map(\.interruptedBefore) == [1])
        let answered = DeliveryAttempt(notificationID: "c", attempt: 2, startedAt: t0, durationMilliseconds: 3, httpStatus: 503, error: "HTTP 503")
        try outbox.record([RecordedAttempt(attempt: answered, outcome: .retry(at: t0), at: t0)])
        try outbox.record([], starting: [started("c", 3)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).map(\.interruptedBefore) == [0])
        #expect(try outbox.interruptedAttempts(destinations: ["hook", "gone"]).map(\.started.notificationID) == ["d", "c"])

        // A mark and its own attempt's record in one batch (the mark waited for the lock while
        // its request went): the record removes it.
        let answeredInTheSameBatch = DeliveryAttempt(notificationID: "c", attempt: 4, startedAt: t0, durationMilliseconds: 3, httpStatus: 200)
        try outbox.record([RecordedAttempt(attempt: answeredInTheSameBatch, outcome: .delivered, at: t0)], starting: [started("c", 4)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).isEmpty)
        try outbox.record([], starting: [started("c", 5)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).isEmpty, "delivered: no longer queued")
    }

    /// A notification given up after attempts the process did not survive, requeued by the
    /// operator, starts its streak again, as its retry budget does.
    @Test func aRequeueStartsTheStreakAgain() throws {
        let directory = try TemporaryDirectory()
        let outbox = Outbox(database: try StateDatabase(path: directory.url("state.sqlite")))
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        try outbox.enqueue([OverdueNotification(id: "x", rule: "r", ticket: 1, ticketID: "T1", destination: "hook",
                                                snapshot: Data("{}".utf8), createdAt: t0)], dedup: [])
        let cut = DeliveryAttempt(notificationID: "x", attempt: 1, startedAt: t0, durationMilliseconds: 0, error: "ended")
        try outbox.record([RecordedAttempt(attempt: cut, outcome: .dead(reason: "ended"), at: t0)], interruptions: ["x": InterruptionStreak(inARow: 1, receiver: nil)])
        #expect(try outbox.requeue(rowids: [1], now: t0) == 1)
        try outbox.record([], starting: [StartedAttempt(notificationID: "x", attempt: 2, startedAt: t0)])
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).map(\.interruptedBefore) == [0])
    }
}
