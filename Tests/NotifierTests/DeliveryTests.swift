import Foundation
import Logging
@testable import Notifier
import OverduedConfig
@testable import Store
import Testing
import TestSupport

/// End to end: outbox in a real SQLite file → Notifier → real HTTP → scripted receiver.
@Suite(.serialized) struct DeliveryTests {
    static let version = "9.9.9"
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// Runs `body` with a notifier and always shuts it down (its HTTP client must be).
    func withNotifier<T>(_ outbox: Outbox, _ destinations: [DestinationSpec], logger: Logger = Logger(label: "test"),
                         onHeartbeat: @escaping @Sendable (Date) -> Void = { _ in },
                         _ body: (Notifier) async throws -> T) async throws -> T {
        let notifier = Notifier(outbox: outbox, destinations: destinations, userAgentVersion: Self.version, logger: logger,
                                onHeartbeat: onHeartbeat)
        do {
            let result = try await body(notifier)
            await notifier.shutdown(grace: .milliseconds(100))
            return result
        } catch {
            await notifier.shutdown(grace: .zero)
            throw error
        }
    }

    func startedServer(_ replies: [ScriptedServer.Reply], otherwise: ScriptedServer.Reply = .status(200)) async throws -> ScriptedServer {
        let server = ScriptedServer(replies, otherwise: otherwise)
        try await server.start()
        return server
    }

    /// A reload (`Notifier.update`) hands the transport the new destinations: the client of
    /// a timeout no destination has any more is closed, not kept until exit.
    @Test func aReloadClosesTheHTTPClientNoDestinationUses() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms", timeout: "2s")
        try Fixtures.enqueue(outbox, destination: "hook", count: 1)
        try await withNotifier(outbox, [destination]) { notifier in
            let result = await notifier.drain(until: Date().addingTimeInterval(5))
            #expect(result.delivered == 1, "\(result)")
            #expect(notifier.openHTTPClients == 1)
            var slower = destination
            slower.timeout = .seconds(3)
            notifier.update(destinations: [slower])
            #expect(notifier.openHTTPClients == 0, "the 2 s client is kept after the reload")
        }
        await server.stop()
    }

    @Test func deliveredWithHeadersSignatureAndRecord() async throws {
        let server = try await startedServer([.status(200, body: "merci")])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, signingSecret: Self.secret,
                                                   headers: ["X-Api-Key": "k-very-secret-value"])
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let (logger, logs) = Fixtures.capturingLogger()
        let result = try await withNotifier(outbox, [destination], logger: logger) { notifier in
            await notifier.drain(until: Date().addingTimeInterval(5))
        }
        #expect(result == DrainResult(delivered: 1, retrying: 0, dead: 0, attempts: 1))

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.path == "/hooks/secret-token?key=abc")
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("user-agent") == "overdued/9.9.9")
        #expect(request.header("webhook-id") == ids[0])
        #expect(request.header("x-api-key") == "k-very-secret-value")
        let timestamp = try #require(request.header("webhook-timestamp").flatMap { Int64($0) })
        #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 10)
        let verification = try #require(WebhookSignature(secret: Self.secret))
            .verify(id: request.header("webhook-id"), timestamp: request.header("webhook-timestamp"),
                    signatureHeader: request.header("webhook-signature"), body: request.body, now: Date())
        #expect(verification == .valid)
        #expect(request.json?["type"] as? String == "ticket.overdue")

        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .delivered)
        let attempts = try outbox.attempts(notificationID: ids[0])
        #expect(attempts.count == 1)
        #expect(attempts.first?.httpStatus == 200)
        #expect(attempts.first?.responseBody == "merci")
        #expect(attempts.first?.error == nil)

        let delivered = try #require(logs.all.first { $0.metadata["event"] == "delivered" })
        for key in ["rule", "ticket", "ticket_id", "destination", "notification_id", "attempt", "http_status", "duration_ms"] {
            #expect(delivered.metadata[key] != nil, "missing log key \(key)")
        }
        #expect(delivered.metadata["notification_id"] == ids[0])
        #expect(delivered.metadata["http_status"] == "200")
        // Nothing secret in any log record: not the URL's path or query, not a header value, not the key.
        for record in logs.all {
            let text = record.message + " " + record.metadata.values.joined(separator: " ")
            for secret in ["secret-token", "key=abc", "k-very-secret-value", "whsec_", "MfKQ9r8"] {
                #expect(!text.contains(secret), "log leaks \(secret): \(text)")
            }
        }
        await server.stop()
    }

    @Test func retriesWithTheSameIDUntilDelivered() async throws {
        let server = try await startedServer([.status(500, body: "boom"), .close])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result.delivered == 1)
        #expect(result.attempts == 3)
        #expect(server.requests.count == 3)
        #expect(Set(server.requests.compactMap { $0.header("webhook-id") }) == [ids[0]])
        let attempts = try outbox.attempts(notificationID: ids[0])
        #expect(attempts.map(\.httpStatus) == [500, nil, 200])
        #expect(attempts[0].error?.contains("HTTP 500") == true)
        #expect(attempts[0].responseBody == "boom")
        #expect(attempts[1].error?.contains("closed") == true, "\(attempts[1].error ?? "")")
        #expect(try outbox.notification(id: ids[0])?.status == .delivered)
        await server.stop()
    }

    @Test func retryAfterIsHonoured() async throws {
        let server = try await startedServer([.status(503, headers: [("Retry-After", "2")])])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        // 1.5 s: room for the first request on a loaded machine, and still before the retry.
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(1.5)) }
        #expect(server.requests.count == 1, "the retry is due after the deadline")
        var expected = DrainResult(delivered: 0, retrying: 1, dead: 0, attempts: 1)
        expected.pausedByReceiver = ["hook"]  // a 503 with Retry-After holds the destination too
        #expect(result == expected)
        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .retrying)
        #expect(stored.lastHTTPStatus == 503)
        // From the 503's arrival at the receiver (its answer went at once).
        let answered = try #require(server.requests.first?.arrivalDate)
        let wait = stored.nextAttemptAt.timeIntervalSince(answered)
        #expect(wait > 1.95 && wait < 2.5, "next attempt in \(wait) s")
        await server.stop()
    }

    /// A Retry-After date is the receiver's clock: read against the answer's `Date`, a receiver
    /// whose clock is decades off still gets the 30 s it asked for (against this machine's
    /// clock, 1994 is long past: the least wait, 1 s).
    @Test func aRetryAfterDateIsReadOnTheReceiversClock() async throws {
        let server = try await startedServer([.status(503, headers: [("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                                                     ("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")])])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        _ = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(1.5)) }
        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .retrying)
        let answered = try #require(server.requests.first?.arrivalDate)
        let wait = stored.nextAttemptAt.timeIntervalSince(answered)
        #expect(wait > 29.95 && wait < 30.5, "next attempt in \(wait) s")
        await server.stop()
    }

    /// A 429 with Retry-After speaks for the receiver: the other queued notifications wait
    /// too, instead of being sent into the same refusal.
    @Test func retryAfterOnA429PausesTheWholeDestination() async throws {
        let server = try await startedServer([.status(429, headers: [("Retry-After", "1")])])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 3)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result.delivered == 3, "\(result)")
        let arrivals = server.requests.map(\.arrival)
        #expect(arrivals.count == 4, "ids \(server.requests.map { $0.header("webhook-id") ?? "-" }), results \(((try? outbox.attempts(notificationID: server.requests.first?.header("webhook-id") ?? "")) ?? []).map { "\($0.attempt) \($0.httpStatus ?? 0) \($0.error ?? "")" })")
        if arrivals.count == 4 {
            #expect(arrivals[1] - arrivals[0] >= .milliseconds(950), "the next request waited for Retry-After: \(arrivals[1] - arrivals[0])")
        }
        await server.stop()
    }

    /// With several requests allowed at once, a batch is still spaced by `min_interval`: a
    /// 429 that comes back meanwhile stops the rest of the batch, which waits uncounted
    /// instead of going into the refusal (and, with one attempt allowed, dead).
    @Test func aPauseAskedForDuringABatchHoldsBackTheRestOfIt() async throws {
        let server = try await startedServer([], otherwise: .status(429, headers: [("Retry-After", "30")]))
        let outbox = try Fixtures.outbox()
        // The 429 must come back before the next request of the batch is due: 2 s leaves room
        // for a first connection on a loaded machine.
        let destination = try Fixtures.destination(url: server.url, minInterval: "2s", concurrency: 4, maxAttempts: 1)
        try Fixtures.enqueue(outbox, destination: "hook", count: 8)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(5)) }
        #expect(server.requests.count == 1, "requests sent into the pause: \(server.requests.count - 1)")
        #expect(result.dead == 1 && result.attempts == 1, "\(result)")
        await server.stop()
    }

    /// A reload that changes the destination (another URL) ends the pause its old receiver
    /// asked for: the new one is not that receiver.
    @Test func aReloadThatChangesTheDestinationEndsItsPause() async throws {
        let refusing = try await startedServer([], otherwise: .status(429, headers: [("Retry-After", "600")]))
        let accepting = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let before = try Fixtures.destination(url: refusing.url, minInterval: "0ms")
        let after = try Fixtures.destination(url: accepting.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 2)
        try await withNotifier(outbox, [before]) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while refusing.requests.isEmpty, ContinuousClock.now - started < .seconds(15) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(refusing.requests.count == 1)
            notifier.update(destinations: [after])
            while accepting.requests.isEmpty, ContinuousClock.now - started < .seconds(15) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(!accepting.requests.isEmpty, "the new receiver got nothing: the old one's pause held")
            #expect(refusing.requests.count == 1)
            await notifier.shutdown(grace: .milliseconds(100))
            await running.value
        }
        await refusing.stop()
        await accepting.stop()
    }

    /// A request in flight to the old receiver when a reload points the destination
    /// elsewhere: its late 429 with Retry-After was the old receiver's; the new one, which did
    /// not ask, is not paused by it (it used to be, for the whole Retry-After), and the
    /// notification it refused goes to the new receiver at once (it waited the old one's
    /// 600 s).
    @Test func theOldReceiversLateRetryAfterDoesNotPauseTheNewOne() async throws {
        let refusing = try await startedServer([], otherwise: .slow(.seconds(1), status: 429, headers: [("Retry-After", "600")]))
        let accepting = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let before = try Fixtures.destination(url: refusing.url, minInterval: "0ms", concurrency: 1)
        let after = try Fixtures.destination(url: accepting.url, minInterval: "0ms", concurrency: 1)
        try Fixtures.enqueue(outbox, destination: "hook", count: 3)
        try await withNotifier(outbox, [before]) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while refusing.requests.isEmpty, ContinuousClock.now - started < .seconds(15) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(refusing.requests.count == 1)
            notifier.update(destinations: [after])      // while the old receiver takes a second to answer
            // The two not in flight go to the new receiver, and so does the refused one.
            while accepting.requests.count < 3, ContinuousClock.now - started < .seconds(20) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(accepting.requests.count == 3, "the new receiver got \(accepting.requests.count) of 3: the old one's answer paused it, or held its refusal")
            #expect(notifier.receiverPauses.isEmpty, "\(notifier.receiverPauses)")
            await notifier.shutdown(grace: .milliseconds(100))
            await running.value
        }
        #expect(try outbox.receiverPause(destination: "hook") == nil, "no pause recorded for the new receiver")
        await refusing.stop()
        await accepting.stop()
    }

    @Test func tooManyRequestsUntilMaxAttempts() async throws {
        let server = try await startedServer([], otherwise: .status(429))
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, maxAttempts: 3)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result == DrainResult(delivered: 0, retrying: 0, dead: 1, attempts: 3))
        #expect(server.requests.count == 3)
        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .dead)
        #expect(stored.lastError?.contains("max_attempts") == true)
        await server.stop()
    }

    /// `overdued queue retry` gives a dead notification a fresh budget: with max_attempts 2,
    /// two more attempts after the requeue, while the attempt numbers keep counting.
    @Test func aRequeuedNotificationHasMaxAttemptsAgain() async throws {
        let server = try await startedServer([.status(503), .status(503), .status(503)], otherwise: .status(200))
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, maxAttempts: 2)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let first = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(first == DrainResult(delivered: 0, retrying: 0, dead: 1, attempts: 2))

        #expect(try outbox.requeue(rowids: outbox.deadNotifications(id: ids[0]).map(\.rowid), now: Date()) == 1)
        let second = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(second == DrainResult(delivered: 1, retrying: 0, dead: 0, attempts: 2))
        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .delivered)
        #expect(stored.attempts == 4, "the history counts every attempt")
        let attempts = try outbox.attempts(notificationID: ids[0])
        #expect(attempts.map(\.attempt) == [1, 2, 3, 4])
        #expect(attempts.map(\.httpStatus) == [503, 503, 503, 200])
        #expect(Set(server.requests.compactMap { $0.header("webhook-id") }) == [ids[0]])
        await server.stop()
    }

    /// Requeued long after it was queued, a notification still has give_up_after from the
    /// requeue: a failure then is retried, not the end of it.
    @Test func aRequeuedNotificationHasGiveUpAfterAgain() async throws {
        let server = try await startedServer([.status(503)], otherwise: .status(200))
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, giveUpAfter: "1h")
        let queuedAt = Date().addingTimeInterval(-3 * 3_600)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, createdAt: queuedAt)
        try outbox.record(DeliveryAttempt(notificationID: ids[0], attempt: 1, startedAt: queuedAt, durationMilliseconds: 5, httpStatus: 503),
                          outcome: .dead(reason: "HTTP 503; gave up"), now: queuedAt.addingTimeInterval(3_600))

        #expect(try outbox.requeue(rowids: outbox.deadNotifications(id: ids[0]).map(\.rowid), now: Date()) == 1)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result == DrainResult(delivered: 1, retrying: 0, dead: 0, attempts: 2))
        #expect(try outbox.attempts(notificationID: ids[0]).map(\.attempt) == [1, 2, 3])
        #expect(try outbox.attempts(notificationID: ids[0]).map(\.httpStatus) == [503, 503, 200])
        await server.stop()
    }

    @Test func goneAndOtherClientErrorsAreDeadAtOnceAndLoggedAsErrors() async throws {
        let server = ScriptedServer { index, _ in index == 0 ? .status(410) : .status(400, body: "bad") }
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 3)
        let (logger, logs) = Fixtures.capturingLogger()
        let result = try await withNotifier(outbox, [destination], logger: logger) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result == DrainResult(delivered: 0, retrying: 0, dead: 3, attempts: 3))
        #expect(server.requests.count == 3, "one request each, no retry")
        #expect(try outbox.notification(id: ids[0])?.lastError?.contains("410") == true)
        #expect(try outbox.notification(id: ids[1])?.lastError?.contains("400") == true)
        let dead = logs.all.filter { $0.metadata["event"] == "dead" }
        #expect(dead.count == 3)
        #expect(dead.allSatisfy { $0.level == .error })
        await server.stop()
    }

    @Test func timeoutAndRefusedConnectionAreRetried() async throws {
        // The receiver would answer after a minute, and the drain may last 10 s: only the
        // 200 ms timeout ends these attempts in time. The bound below is far from both (other
        // tests running beside this one can delay it by seconds).
        let slow = try await startedServer([], otherwise: .slow(.seconds(60)))
        let closed = try RefusedPort()
        let outbox = try Fixtures.outbox()
        let hung = try Fixtures.destination(name: "hung", url: slow.url, timeout: "200ms", maxAttempts: 2)
        let refused = try Fixtures.destination(name: "refused", url: "http://127.0.0.1:\(closed.port)/hooks/secret-token", maxAttempts: 2)
        let hungID = try Fixtures.enqueue(outbox, destination: "hung")[0]
        let refusedID = try Fixtures.enqueue(outbox, destination: "refused")[0]
        let started = ContinuousClock.now
        let result = try await withNotifier(outbox, [hung, refused]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(ContinuousClock.now - started < .seconds(8), "the timeout cuts the hung requests")
        #expect(result.dead == 2)
        #expect(slow.requests.count == 2)
        let hungAttempts = try outbox.attempts(notificationID: hungID)
        #expect(hungAttempts.count == 2)
        #expect(hungAttempts.allSatisfy { $0.error?.contains("timeout") == true && $0.durationMilliseconds >= 150 })
        let refusedAttempts = try outbox.attempts(notificationID: refusedID)
        #expect(refusedAttempts.count == 2)
        #expect(refusedAttempts.allSatisfy { $0.error?.contains("connect") == true }, "\(refusedAttempts.map(\.error))")
        // In the system's words, not NIO's "connection reset (error set): Connection refused) (errno: 111)".
        #expect(refusedAttempts.allSatisfy { $0.error?.hasPrefix("cannot connect to http://127.0.0.1:\(closed.port): Connection refused;") == true
                    && $0.error?.contains("errno") == false },
                "\(refusedAttempts.map { $0.error ?? "" })")
        withExtendedLifetime(closed) {}
        #expect(!refusedAttempts.contains { $0.error?.contains("secret-token") == true })
        await slow.stop()
    }

    /// A receiver that sent its status and then stalled, or cut its body short, has answered:
    /// a 2xx is delivered (not sent again until the receiver has it several times), another
    /// status is recorded as such.
    @Test func theStatusOfAnAnswerWhoseBodyNeverEndsIsTheAnswer() async throws {
        let accepting = try await startedServer([], otherwise: .headThenStall(200))
        let unavailable = try await startedServer([], otherwise: .headThenStall(503))
        let outbox = try Fixtures.outbox()
        // The head must come back within the timeout: 2 s leaves room on a loaded machine.
        let accepted = try Fixtures.destination(name: "accepting", url: accepting.url, timeout: "2s", maxAttempts: 3)
        let refused = try Fixtures.destination(name: "unavailable", url: unavailable.url, timeout: "2s", maxAttempts: 1)
        let acceptedID = try Fixtures.enqueue(outbox, destination: "accepting")[0]
        let refusedID = try Fixtures.enqueue(outbox, destination: "unavailable")[0]
        let result = try await withNotifier(outbox, [accepted, refused]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result.delivered == 1 && result.dead == 1, "\(result)")
        #expect(accepting.requests.count == 1, "sent once")
        let acceptedAttempts = try outbox.attempts(notificationID: acceptedID)
        #expect(acceptedAttempts.map(\.httpStatus) == [200])
        #expect(acceptedAttempts.first?.responseBody == "partial")
        #expect(try outbox.notification(id: acceptedID)?.status == .delivered)
        #expect(try outbox.attempts(notificationID: refusedID).map(\.httpStatus) == [503])
        await accepting.stop()
        await unavailable.stop()
    }

    /// A request that times out during the stop's grace is an attempt of the receiver's
    /// making: recorded, not passed off as interrupted by the stop.
    @Test func aTimeoutDuringTheStopsGraceIsRecorded() async throws {
        let slow = try await startedServer([], otherwise: .slow(.seconds(60)))
        let outbox = try Fixtures.outbox()
        // The stop must come before the timeout (3 s after the request started) and the grace
        // (10 s) must outlast it.
        let destination = try Fixtures.destination(name: "slow", url: slow.url, timeout: "3s", maxAttempts: 3)
        let id = try Fixtures.enqueue(outbox, destination: "slow")[0]
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: Self.version, logger: Logger(label: "test"))
        let running = Task { await notifier.run() }
        let started = ContinuousClock.now
        while slow.requests.isEmpty, ContinuousClock.now - started < .seconds(15) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(slow.requests.count == 1)
        await notifier.shutdown(grace: .seconds(10))
        await running.value
        let attempts = try outbox.attempts(notificationID: id)
        #expect(attempts.count == 1, "\(attempts)")
        #expect(attempts.first?.error?.contains("timeout") == true, "\(attempts.map(\.error))")
        #expect(try outbox.notification(id: id)?.attempts == 1)
        await slow.stop()
    }

    @Test func brokenTemplateMakesTheNotificationDeadWithoutARequest() async throws {
        let server = try await startedServer([])
        let directory = try Fixtures.temporaryDirectory()
        let template = directory.appendingPathComponent("broken.mustache")
        try Data(#"{"text": {{title}} }"#.utf8).write(to: template)
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, format: #"{"template":"\#(template.path)"}"#)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(5)) }
        #expect(result.dead == 1)
        #expect(server.requests.isEmpty)
        #expect(try outbox.notification(id: ids[0])?.lastError?.contains("broken.mustache") == true)
        await server.stop()
    }

    static func gaps(_ requests: [ScriptedServer.Request]) -> [Duration] {
        let arrivals = requests.map(\.arrival).sorted()
        return zip(arrivals, arrivals.dropFirst()).map { $1 - $0 }
    }

    @Test(arguments: [1, 4])
    func spacingAtTheReceiverIsAtLeastMinInterval(concurrency: Int) async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "100ms", concurrency: concurrency)
        try Fixtures.enqueue(outbox, destination: destination.name, count: 6)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result.delivered == 6)
        let gaps = Self.gaps(server.requests)
        #expect(gaps.count == 5)
        // With several in flight the guarantee holds up to the delivery time of a written
        // request, microseconds on loopback.
        let floor: Duration = concurrency == 1 ? .milliseconds(100) : .milliseconds(99)
        #expect(gaps.allSatisfy { $0 >= floor }, "gaps \(gaps)")
        await server.stop()
    }

    /// `once --max-wait`: a long queue at 200 ms apart does not keep the drain going past its
    /// deadline; what did not start stays queued for the next run.
    @Test func aDrainStartsNothingAfterItsDeadline() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "200ms")
        try Fixtures.enqueue(outbox, destination: destination.name, count: 40)
        let started = ContinuousClock.now
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(2)) }
        let took = ContinuousClock.now - started
        // 40 at 200 ms apart need 8 s: stopping at the deadline leaves most of them queued.
        #expect(took < .seconds(6), "the drain took \(took)")
        #expect(result.delivered <= 20, "\(result)")
        #expect(result.retrying == 40 - result.delivered)
        #expect(result.dueLeft == result.retrying, "the rest was due: once says so")
        #expect(server.requests.count == result.delivered)
        await server.stop()
    }

    /// However short the deadline (`--max-wait 0s`, or a machine too loaded to start in
    /// time), each destination with something due makes one attempt; no second one starts.
    @Test func aDrainPastItsDeadlineStillMakesOneAttemptPerDestination() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        try Fixtures.enqueue(outbox, destination: destination.name, count: 3)
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(-1)) }
        #expect(result.delivered == 1 && result.retrying == 2 && result.dueLeft == 2, "\(result)")
        #expect(server.requests.count == 1)
        await server.stop()
    }

    @Test func aSickDestinationDoesNotSlowAnother() async throws {
        // The sick one holds its request for 30 s: a healthy destination waiting behind it
        // would take that long, far beyond the bound below (which leaves room for a loaded
        // machine).
        let sick = try await startedServer([], otherwise: .slow(.seconds(60)))
        let healthy = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let sickSpec = try Fixtures.destination(name: "sick", url: sick.url, timeout: "30s")
        let healthySpec = try Fixtures.destination(name: "healthy", url: healthy.url, minInterval: "0ms")
        let sickIDs = try Fixtures.enqueue(outbox, destination: "sick", count: 3)
        try Fixtures.enqueue(outbox, destination: "healthy", count: 5)
        let heartbeats = Locked(0)
        try await withNotifier(outbox, [sickSpec, healthySpec], onHeartbeat: { _ in heartbeats.withLock { $0 += 1 } }) { notifier in
            let started = ContinuousClock.now
            let running = Task { await notifier.run() }
            while healthy.requests.count < 5, ContinuousClock.now - started < .seconds(15) {
                try await Task.sleep(for: .milliseconds(10))
            }
            let elapsed = ContinuousClock.now - started
            #expect(healthy.requests.count == 5)
            #expect(elapsed < .seconds(10), "healthy destination took \(elapsed)")
            #expect(sick.requests.count == 1, "the sick one is still stuck on its first request")
            #expect(heartbeats.current >= 1)
            // Shutdown with a request in flight: it is cut, and stays queued unrecorded.
            await notifier.shutdown(grace: .milliseconds(50))
            await running.value
        }
        #expect(try outbox.attempts(notificationID: sickIDs[0]).isEmpty)
        #expect(try outbox.notification(id: sickIDs[0])?.status == .pending)
        #expect(try outbox.counts().delivered == 5)
        await sick.stop()
        await healthy.stop()
    }

    @Test func runWakesOnNewWorkAndBeatsWhileIdle() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let heartbeats = Locked<[Date]>([])
        try await withNotifier(outbox, [destination], onHeartbeat: { date in heartbeats.withLock { $0.append(date) } }) { notifier in
            let running = Task { await notifier.run() }
            try await Task.sleep(for: .milliseconds(300))
            // Idle loops sleep up to 5 s; `wake()` must cut that short.
            try Fixtures.enqueue(outbox, destination: destination.name)
            let enqueued = ContinuousClock.now
            notifier.wake()
            while server.requests.isEmpty, ContinuousClock.now - enqueued < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            // Without the wake, the loop sleeps on for up to 5 s.
            #expect(ContinuousClock.now - enqueued < .milliseconds(2_500))
            try await Task.sleep(for: .milliseconds(2_300))
            let beats = heartbeats.current
            #expect(beats.count >= 2, "heartbeats: \(beats.count)")
            #expect(zip(beats, beats.dropFirst()).allSatisfy { $1.timeIntervalSince($0) < 2 })

            // A reload pointing the destination elsewhere: the next notification goes there.
            let other = try await startedServer([])
            var moved = destination
            moved.url = Secret(other.url)
            notifier.update(destinations: [moved])     // in force when it returns
            try Fixtures.enqueue(outbox, destination: destination.name)
            notifier.wake()
            let reloaded = ContinuousClock.now
            while other.requests.isEmpty, ContinuousClock.now - reloaded < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(other.requests.count == 1)
            #expect(server.requests.count == 1)
            running.cancel()
            await running.value
            await other.stop()
        }
        await server.stop()
    }

    /// The request waiting for its `min_interval` slot when a reload changes the destination
    /// goes with the new settings, and under the new interval: it used to go to the old URL,
    /// signed with the old secret, after waiting out the old interval.
    @Test func aRequestWaitingForItsSlotGoesWithTheReloadedSettings() async throws {
        let old = try await startedServer([])
        let new = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: old.url, minInterval: "20s")
        try Fixtures.enqueue(outbox, destination: destination.name, count: 2)
        try await withNotifier(outbox, [destination]) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while old.requests.isEmpty, ContinuousClock.now - started < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(old.requests.count == 1)
            // The second one now waits 20 s for its slot; the reload moves it and shortens it.
            try await Task.sleep(for: .milliseconds(300))
            var moved = destination
            moved.url = Secret(new.url)
            moved.minInterval = .milliseconds(500)
            notifier.update(destinations: [moved])
            let reloaded = ContinuousClock.now
            while new.requests.isEmpty, ContinuousClock.now - reloaded < .seconds(10) {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(new.requests.count == 1, "the waiting request went to the new URL")
            #expect(old.requests.count == 1, "nothing more to the old URL")
            #expect(ContinuousClock.now - reloaded < .seconds(10), "not after the old 20 s")
            running.cancel()
            await running.value
        }
        await old.stop()
        await new.stop()
    }

    @Test func sendTestRecordsNothing() async throws {
        let server = try await startedServer([.status(202, body: "ok")])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, signingSecret: Self.secret)
        let result = try await withNotifier(outbox, []) { await $0.sendTest(destination: destination) }
        #expect(result.succeeded)
        #expect(result.httpStatus == 202)
        #expect(result.responseBody == "ok")
        #expect(result.latency > .zero && result.latency < .seconds(2))
        let request = try #require(server.requests.first)
        #expect(request.json?["type"] as? String == "overdued.test")
        #expect(request.header("webhook-id") == result.notificationID)
        #expect(request.header("webhook-signature")?.hasPrefix("v1,") == true)
        #expect(try outbox.counts() == QueueCounts())

        await server.stop()
        let refused = try await withNotifier(outbox, []) { await $0.sendTest(destination: destination) }
        #expect(!refused.succeeded)
        #expect(refused.httpStatus == nil)
        #expect(refused.error != nil)
    }

    /// A figure for the report: delivered/s to a local receiver with no spacing and 8 in flight.
    @Test func throughputWithConcurrency() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms", concurrency: 8)
        let count = 300
        try Fixtures.enqueue(outbox, destination: destination.name, count: count)
        let started = ContinuousClock.now
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(30)) }
        let elapsed = ContinuousClock.now - started
        #expect(result.delivered == count)
        #expect(Set(server.requests.compactMap { $0.header("webhook-id") }).count == count)
        print("throughput: \(count) delivered in \(elapsed) = \(Int(Double(count) / elapsed.seconds)) delivered/s (min_interval 0ms, concurrency 8)")
        await server.stop()
    }

    /// A figure for the report: spacing with the default 200 ms.
    @Test func spacingWithDefaultInterval() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "200ms")
        try Fixtures.enqueue(outbox, destination: destination.name, count: 6)
        _ = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        let gaps = Self.gaps(server.requests).sorted()
        #expect(gaps.count == 5)
        #expect(gaps.allSatisfy { $0 >= .milliseconds(200) }, "gaps \(gaps)")
        print("spacing at 200ms: min \(gaps.first ?? .zero), median \(gaps.isEmpty ? .zero : gaps[gaps.count / 2]), max \(gaps.last ?? .zero)")
        await server.stop()
    }
}

/// The group commit of delivery attempts, on a real state database.
struct AttemptRecorderTests {
    @Test func attemptsFinishingTogetherAreAllCommittedAndEachCallerHearsOfIt() async throws {
        let outbox = try Fixtures.outbox()
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let ids = (0..<200).map { "msg_\($0)" }
        try outbox.enqueue(ids.enumerated().map { index, id in
            OverdueNotification(id: id, rule: "r", ticket: Int64(index), ticketID: "T\(index)", destination: "hook",
                                snapshot: Data("{}".utf8), createdAt: now)
        }, dedup: [])
        let recorder = AttemptRecorder(outbox: outbox)
        let results = await withTaskGroup(of: Bool.self) { group in
            for id in ids {
                group.addTask {
                    let attempt = DeliveryAttempt(notificationID: id, attempt: 1, startedAt: now, durationMilliseconds: 1, httpStatus: 200)
                    if case .success = await recorder.record(attempt, outcome: .delivered, at: now) { return true }
                    return false
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 })
        #expect(try outbox.counts().delivered == 200)
    }

    @Test func aFailedBatchIsReportedToEveryoneInIt() async throws {
        let outbox = try Fixtures.outbox()
        let recorder = AttemptRecorder(outbox: outbox)
        let attempt = DeliveryAttempt(notificationID: "msg_missing", attempt: 1, startedAt: Date(), durationMilliseconds: 1, httpStatus: 200)
        let result = await recorder.record(attempt, outcome: .delivered, at: Date())
        guard case .failure(let error) = result else {
            Issue.record("recording an attempt of an unknown notification must fail (foreign key)")
            return
        }
        #expect(error.description.contains("record delivery attempts"))
    }
}
