import Foundation
import Logging
@testable import Notifier
import OverduedConfig
@testable import Store
import Testing

/// Attempts an earlier process did not live to record (a crash, a kill): counted as failed
/// attempts by the next deliverer, given up after `InterruptedAttempts.maximumInARow`.
@Suite(.serialized) struct InterruptedAttemptTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    static func interrupted(attempt: Int, before: Int, maxAttempts: Int? = nil) throws -> (InterruptedAttempt, DestinationSpec) {
        let notification = OverdueNotification(id: "msg_1", rule: "r", ticket: 1, ticketID: "T1", destination: "hook",
                                               snapshot: Data("{}".utf8), createdAt: t0)
        let spec = try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token", maxAttempts: maxAttempts,
                                            initialBackoff: "1s", maxBackoff: "1s")
        return (InterruptedAttempt(notification: notification, started: StartedAttempt(notificationID: "msg_1", attempt: attempt, startedAt: t0),
                                   interruptedBefore: before), spec)
    }

    @Test func anInterruptedAttemptIsAFailedOneRetriedAfterABackoff() throws {
        let (interrupted, spec) = try Self.interrupted(attempt: 1, before: 0)
        let recorded = InterruptedAttempts.decide(interrupted, spec: spec, now: Self.t0.addingTimeInterval(60), jitter: { $0 })
        #expect(recorded.outcome == .retry(at: Self.t0.addingTimeInterval(61)))
        #expect(recorded.attempt.attempt == 1 && recorded.attempt.httpStatus == nil && recorded.attempt.startedAt == Self.t0)
        #expect(recorded.attempt.error?.hasPrefix("no answer recorded: overdued ended during this attempt, started at 2026-11-18T") == true,
                "\(recorded.attempt.error ?? "")")
        // The policy's own limit holds as for any failed attempt.
        let (last, limited) = try Self.interrupted(attempt: 2, before: 0, maxAttempts: 2)
        guard case .dead(let reason) = InterruptedAttempts.decide(last, spec: limited, now: Self.t0, jitter: { $0 }).outcome else {
            Issue.record("max_attempts 2 reached at attempt 2")
            return
        }
        #expect(reason.contains("retry.max_attempts = 2"))
    }

    @Test func theThirdInARowIsGivenUpWhateverThePolicy() throws {
        let (second, spec) = try Self.interrupted(attempt: 5, before: 1)
        if case .dead = InterruptedAttempts.decide(second, spec: spec, now: Self.t0, jitter: { $0 }).outcome {
            Issue.record("two in a row are retried")
        }
        let (third, _) = try Self.interrupted(attempt: 6, before: 2)
        guard case .dead(let reason) = InterruptedAttempts.decide(third, spec: spec, now: Self.t0, jitter: { $0 }).outcome else {
            Issue.record("three in a row are given up")
            return
        }
        #expect(reason.contains("overdued ended during 3 attempts of it in a row") && reason.contains("overdued queue retry msg_1"), "\(reason)")
    }

    /// What a drain does with an attempt left behind: records it before any request, then
    /// delivers the notification after the backoff (the next attempt's number follows).
    @Test func aDrainRecordsTheAttemptLeftBehindThenDelivers() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let id = try Fixtures.enqueue(outbox, destination: "hook")[0]
        try outbox.record([], starting: [StartedAttempt(notificationID: id, attempt: 1, startedAt: Date().addingTimeInterval(-30))])
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Logger(label: "test"))
        let result = await notifier.drain(until: Date().addingTimeInterval(10))
        await notifier.shutdown(grace: .zero)
        #expect(result.delivered == 1 && result.dead == 0)
        let attempts = try outbox.attempts(notificationID: id)
        #expect(attempts.map(\.attempt) == [1, 2])
        #expect(attempts.first?.error?.contains("overdued ended during this attempt") == true && attempts.last?.httpStatus == 200)
        #expect(server.requests.count == 1)
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).isEmpty)
        // Both changed the queue: the daemon's status counts it again when this number moves.
        #expect(notifier.recordedAttempts == 2)
        await server.stop()
    }
}

/// Crashes in a row count at one receiver: a destination pointed elsewhere since (a reload,
/// or a config edited before the restart) is neither paused nor has the notification given
/// up for what its former receiver's answers did.
@Suite(.serialized) struct CrashesAtAFormerReceiverTests {
    /// Two attempts of one notification cut off at `streakAt`, then a third marked at `lastAt`;
    /// drains the destination (pointing to `server`) and returns the notification and pause.
    static func drainAfterThreeCrashes(streakAt: (DestinationSpec) -> String, lastAt: (DestinationSpec) -> String, server: ScriptedServer)
        async throws -> (OverdueNotification?, ReceiverPause?, [DeliveryAttempt]) {
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url + "/hooks/secret-token")
        let id = try Fixtures.enqueue(outbox, destination: "hook")[0]
        let t0 = Date().addingTimeInterval(-30)
        for attempt in 1...2 {
            let cut = DeliveryAttempt(notificationID: id, attempt: attempt, startedAt: t0, durationMilliseconds: 0, error: "ended")
            try outbox.record([RecordedAttempt(attempt: cut, outcome: .retry(at: t0), at: t0)],
                              interruptions: [id: InterruptionStreak(inARow: attempt, receiver: streakAt(destination))])
        }
        try outbox.record([], starting: [StartedAttempt(notificationID: id, attempt: 3, startedAt: t0, receiver: lastAt(destination))])
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Logger(label: "test"))
        _ = await notifier.drain(until: Date().addingTimeInterval(5))
        await notifier.shutdown(grace: .zero)
        return (try outbox.notification(id: id), try outbox.receiverPause(destination: "hook"), try outbox.attempts(notificationID: id))
    }

    static func former(_: DestinationSpec) -> String { "https://old.example:8443" }

    @Test func crashesAtTheReceiverItPointsToGiveUpAndPause() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let (notification, pause, _) = try await Self.drainAfterThreeCrashes(streakAt: \.redactedURL, lastAt: \.redactedURL, server: server)
        #expect(notification?.status == .dead)
        #expect(pause?.httpStatus == ReceiverPause.crashingAnswers && pause?.receiver == "http://127.0.0.1:\(server.port)")
        #expect(server.requests.isEmpty)
        await server.stop()
    }

    @Test func crashesAtAFormerReceiverNeitherGiveUpNorPauseTheNewOne() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let (notification, pause, attempts) = try await Self.drainAfterThreeCrashes(streakAt: \.redactedURL, lastAt: Self.former, server: server)
        #expect(notification?.status == .delivered && notification?.interruptedAttempts == 0)
        #expect(pause == nil, "the new receiver was paused for the former one's crashes")
        #expect(attempts.map(\.attempt) == [1, 2, 3, 4])
        let cut = attempts.first { $0.attempt == 3 }?.error ?? ""
        #expect(cut.contains("whether the receiver got it is unknown (it went to https://old.example:8443, which this destination no longer points to)"), "\(cut)")
        #expect(server.requests.count == 1)
        await server.stop()
    }

    /// Two crashes at X, then the destination pointed at Y: the first crash at Y is the first
    /// in a row there (the review's case), not the third.
    @Test func theStreakStartsAgainAtAnotherReceiver() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let (notification, pause, attempts) = try await Self.drainAfterThreeCrashes(streakAt: Self.former, lastAt: \.redactedURL, server: server)
        #expect(notification?.status == .delivered, "given up after one crash at this receiver")
        #expect(pause == nil)
        #expect(attempts.map(\.attempt) == [1, 2, 3, 4])
        #expect(server.requests.count == 1)
        await server.stop()
    }
}

/// A notification withdrawn while its request is under way, whose request then times out
/// after it left: the receiver may have it, so its ticket stays notified (a refusal before it
/// left, or an answer, would give the dedup state back).
@Suite(.serialized) struct WithdrawnUnderWayTests {
    @Test(arguments: [false, true]) func aTimeoutAfterTheRequestLeftKeepsTheTicketNotified(receiverAnswers: Bool) async throws {
        let server = ScriptedServer([], otherwise: receiverAnswers ? .slow(.milliseconds(300), status: 503) : .slow(.seconds(3)))
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, timeout: "1s", maxAttempts: 1)
        let createdAt = Date()
        let id = try Fixtures.enqueue(outbox, destination: "hook", createdAt: createdAt)[0]
        try outbox.recordDedup([DedupRecord(rule: "late", ticket: 100, lastNotifiedAt: createdAt, scheduledDate: nil, assignedTo: nil,
                                            status: "received", priority: nil)])
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Logger(label: "test"))
        let drain = Task { await notifier.drain(until: Date().addingTimeInterval(10)) }
        // Under way: withdrawn (its ticket closed, say) while the receiver holds the request.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requests.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try outbox.withdraw([id], at: Date(), reason: "test") == [id])
        #expect(try !outbox.dedupRecords(rule: "late", tickets: [100]).isEmpty, "under way: kept")
        _ = await drain.value
        await notifier.shutdown(grace: .zero)
        #expect(try outbox.notification(id: id)?.status == .withdrawn)
        // Refused with an answer (503): not notified. Timed out after it left: it may have arrived.
        #expect(try outbox.dedupRecords(rule: "late", tickets: [100]).isEmpty == receiverAnswers)
        await server.stop()
    }
}

/// Notifications whose attempt a process did not survive go one at a time, with nothing else
/// in flight to any destination: the one whose answer crashes overdued crashes it alone, and
/// the others in flight with it get their answers instead of being counted (and given up) too.
@Suite(.serialized) struct SuspectTests {
    /// Marks `suspects` as cut off by an earlier process, drains every destination (4
    /// notifications in all, each delivered) and returns when each arrived, by webhook-id.
    static func drain(_ outbox: Outbox, to destinations: [DestinationSpec], suspects: [String],
                      server: ScriptedServer) async throws -> [String: ContinuousClock.Instant] {
        let started = Date().addingTimeInterval(-5)
        try outbox.record([], starting: suspects.map { StartedAttempt(notificationID: $0, attempt: 1, startedAt: started) })
        let notifier = Notifier(outbox: outbox, destinations: destinations, userAgentVersion: "9", logger: Logger(label: "test"))
        let result = await notifier.drain(until: Date().addingTimeInterval(20))
        await notifier.shutdown(grace: .zero)
        #expect(result.delivered == 4, "\(result)")
        var arrivals: [String: ContinuousClock.Instant] = [:]
        for request in server.requests { if let id = request.header("webhook-id") { arrivals[id] = request.arrival } }
        #expect(arrivals.count == 4)
        return arrivals
    }

    /// The receiver answers in 300 ms: a suspect alone arrived at least 250 ms from each other.
    static func expectAlone(_ suspect: String, from others: [String], _ arrivals: [String: ContinuousClock.Instant]) {
        for other in others where other != suspect {
            guard let mine = arrivals[suspect], let theirs = arrivals[other] else { continue }
            let apart = mine > theirs ? mine - theirs : theirs - mine
            #expect(apart >= .milliseconds(250), "\(suspect) went \(apart) from \(other): not alone")
        }
    }

    @Test func eachInterruptedNotificationGoesAloneTheRestTogether() async throws {
        let server = ScriptedServer([], otherwise: .slow(.milliseconds(300)))
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, concurrency: 4)
        let ids = try Fixtures.enqueue(outbox, destination: "hook", count: 4)
        let arrivals = try await Self.drain(outbox, to: [destination], suspects: Array(ids[0...1]), server: server)
        for suspect in ids[0...1] { Self.expectAlone(suspect, from: ids, arrivals) }
        await server.stop()
    }

    /// The same across destinations: a receiver whose answer crashes overdued must not take
    /// the notifications in flight to a healthy destination with it, crash after crash, until
    /// the third gives them up (seen: a status line `099` to one destination gave up every
    /// notification to another whose receiver took 0.5 s to answer).
    @Test func aSuspectGoesAloneAcrossEveryDestination() async throws {
        let server = ScriptedServer([], otherwise: .slow(.milliseconds(300)))
        try await server.start()
        let outbox = try Fixtures.outbox()
        let sick = try Fixtures.destination(name: "sick", url: server.url + "/sick")
        let healthy = try Fixtures.destination(name: "healthy", url: server.url + "/healthy", concurrency: 4)
        let suspect = try Fixtures.enqueue(outbox, destination: "sick")[0]
        let others = try Fixtures.enqueue(outbox, destination: "healthy", count: 3)
        let arrivals = try await Self.drain(outbox, to: [sick, healthy], suspects: [suspect], server: server)
        Self.expectAlone(suspect, from: others, arrivals)
        // The healthy destination's requests still go together once the suspect has its answer.
        let healthyTimes = others.compactMap { arrivals[$0] }.sorted()
        if let first = healthyTimes.first, let last = healthyTimes.last {
            #expect(last - first < .milliseconds(250), "the healthy destination's three went one by one")
        }
        await server.stop()
    }
}

/// `retry.give_up_after` bounds when retries start: one held back past it (by a receiver's
/// pause, a stopped daemon) is given up instead of sent; a first attempt is always made.
@Suite(.serialized) struct GiveUpAfterTests {
    @Test func aRetryHeldBackPastGiveUpAfterIsGivenUpUnsent() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, giveUpAfter: "5s")
        let queuedAt = Date().addingTimeInterval(-8)
        let ids = try Fixtures.enqueue(outbox, destination: "hook", count: 2, createdAt: queuedAt)
        // The first was tried once and is due again now, 8 s after it was queued; the second
        // was never tried.
        let failed = DeliveryAttempt(notificationID: ids[0], attempt: 1, startedAt: queuedAt, durationMilliseconds: 3, httpStatus: 503, error: "HTTP 503")
        try outbox.record([RecordedAttempt(attempt: failed, outcome: .retry(at: queuedAt.addingTimeInterval(1)), at: queuedAt)])
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Logger(label: "test"))
        let result = await notifier.drain(until: Date().addingTimeInterval(5))
        await notifier.shutdown(grace: .zero)
        #expect(result.dead == 1 && result.delivered == 1, "\(result)")
        #expect(server.requests.map { $0.header("webhook-id") } == [ids[1]], "only the first attempt of the other one went")
        let given = try #require(try outbox.notification(id: ids[0]))
        #expect(given.status == .dead && given.attempts == 1)
        #expect(given.lastError?.hasPrefix("HTTP 503; gave up: retry.give_up_after (5s) since it was queued ran out before its next attempt could start") == true,
                "\(given.lastError ?? "")")
        #expect(try outbox.attempts(notificationID: ids[0]).count == 1, "no attempt is recorded for it")
        #expect(notifier.recordedAttempts == 2, "the give-up and the delivery changed the queue")
        await server.stop()
    }
}
