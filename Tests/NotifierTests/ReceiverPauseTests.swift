import Foundation
@testable import Notifier
import OverduedConfig
import Store
import Testing

/// A receiver's `Retry-After` pause kept in the state database: a restart does not send into
/// the same refusal. Real SQLite file, real HTTP server on 127.0.0.1.
extension DeliveryTests {
    /// The instant of the monotonic clock at which the wall clock says `date`, as seen now.
    static func instant(at date: Date) -> ContinuousClock.Instant {
        let (instant, now) = (ContinuousClock.now, Date())
        return instant + .milliseconds(Int64((date.timeIntervalSince(now) * 1000).rounded()))
    }

    /// A 503 with Retry-After is written to the state database; a new notifier on the same
    /// file (the next `once`, a restarted daemon) sends nothing to the destination until the
    /// pause ends, then sends everything, and removes the row.
    @Test func aReceiversPauseOutlivesARestart() async throws {
        // 8 s: the pause must outlast two notifiers' lives and the start of a third, on a
        // loaded machine too.
        let server = try await startedServer([.status(503, headers: [("Retry-After", "8")])])
        let path = try Fixtures.temporaryDirectory().appendingPathComponent("state.sqlite").path
        let outbox = Outbox(database: try StateDatabase(path: path))
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 3)
        let asked = Date()
        // The drain ends as soon as the pause is known to outlast it: 3 s is only the bound for
        // a loaded machine, where the first request's answer took more than a second.
        let first = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(3)) }
        #expect(first.pausedByReceiver == ["hook"])
        #expect(server.requests.count == 1)
        let row = try #require(try outbox.receiverPause(destination: "hook"), "the pause was not written")
        #expect(row.httpStatus == 503)
        #expect(row.receiver == destination.redactedURL)
        #expect(row.setAt >= asked.addingTimeInterval(-0.01) && row.setAt <= Date())
        #expect(abs(row.until.timeIntervalSince(row.setAt) - 8) < 0.01, "\(row)")

        // `once` again, on a new handle of the file: nothing goes, and it says why.
        let again = Outbox(database: try StateDatabase(path: path))
        let second = try await withNotifier(again, [destination]) { await $0.drain(until: Date().addingTimeInterval(0.5)) }
        #expect(server.requests.count == 1, "sent into the pause after a restart")
        #expect(second.pausedByReceiver == ["hook"])
        #expect(second.attempts == 0)

        // The daemon, restarted: paused until the receiver's time, then it sends everything.
        let restarted = Outbox(database: try StateDatabase(path: path))
        let end = Self.instant(at: row.until)
        try await withNotifier(restarted, [destination]) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while notifier.receiverPauses.isEmpty, ContinuousClock.now - started < .seconds(2) { try await Task.sleep(for: .milliseconds(10)) }
            let shown = notifier.receiverPauses
            #expect(shown.map(\.destination) == ["hook"])
            #expect(shown.first.map { abs($0.until.timeIntervalSince(row.until)) < 0.01 } == true, "\(shown) vs \(row.until)")
            while server.requests.count < 4, ContinuousClock.now - started < .seconds(25) { try await Task.sleep(for: .milliseconds(10)) }
            await notifier.shutdown(grace: .milliseconds(100))
            await running.value
        }
        let later = server.requests.dropFirst().map(\.arrival)
        #expect(later.count == 3)
        for arrival in later {
            #expect(arrival >= end - .milliseconds(50), "sent \(end - arrival) before the pause's end")
        }
        #expect(try restarted.counts().delivered == 3)
        #expect(try restarted.receiverPause(destination: "hook") == nil, "an ended pause is removed")
        await server.stop()
    }

    /// `overdued queue resume` removes the pause's row: the running daemon sees it and sends
    /// again, long before the receiver's time. A reload that changes only the timeout keeps
    /// the pause (the same receiver still asks); one that points elsewhere ends it.
    @Test func aPauseEndsWhenItsRowIsRemovedOrTheReceiverChanges() async throws {
        let server = try await startedServer([.status(503, headers: [("Retry-After", "600")])])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 3)
        try await withNotifier(outbox, [destination]) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while notifier.receiverPauses.isEmpty, ContinuousClock.now - started < .seconds(5) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(notifier.receiverPauses.map(\.destination) == ["hook"])
            // Another timeout, the same receiver: still paused.
            var slower = destination
            slower.timeout = .seconds(3)
            notifier.update(destinations: [slower])
            try await Task.sleep(for: .milliseconds(300))
            #expect(notifier.receiverPauses.map(\.destination) == ["hook"], "a reload of the timeout ended the pause")
            #expect(server.requests.count == 1)

            let resumed = ContinuousClock.now
            #expect(try outbox.resumeReceiver(destination: "hook", now: Date()) == 1, "the refused one is due now too")
            while server.requests.count < 4, ContinuousClock.now - resumed < .seconds(15) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(server.requests.count == 4, "not sent again after the row was removed")
            #expect(ContinuousClock.now - resumed <= Notifier.receiverPauseResumeDelay + .seconds(1))
            #expect(notifier.receiverPauses.isEmpty)
            await notifier.shutdown(grace: .milliseconds(100))
            await running.value
        }
        #expect(try outbox.counts().delivered == 3)
        await server.stop()
    }

    /// A reload points the paused destination at another receiver (the old one asked for
    /// ten minutes): the new one gets every notification at once, the one the old receiver
    /// refused included (it waited out the old receiver's Retry-After), and the log says so.
    @Test func aDestinationPointedElsewhereSendsWhatTheFormerReceiverRefusedAtOnce() async throws {
        let old = try await startedServer([.status(503, headers: [("Retry-After", "600")])])
        let new = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: old.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 3)
        let (logger, logs) = Fixtures.capturingLogger()
        try await withNotifier(outbox, [destination], logger: logger) { notifier in
            let running = Task { await notifier.run() }
            let started = ContinuousClock.now
            while notifier.receiverPauses.isEmpty, ContinuousClock.now - started < .seconds(5) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(notifier.receiverPauses.map(\.destination) == ["hook"])
            let repointed = ContinuousClock.now
            notifier.update(destinations: [try Fixtures.destination(url: new.url, minInterval: "0ms")])
            while new.requests.count < 3, ContinuousClock.now - repointed < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(new.requests.count == 3, "the refused one waited for the old receiver's pause")
            await notifier.shutdown(grace: .milliseconds(100))
            await running.value
        }
        #expect(old.requests.count == 1)
        #expect(try outbox.counts().delivered == 3)
        #expect(try outbox.receiverPause(destination: "hook") == nil)
        #expect(logs.all.contains { $0.message.contains("the wait its former receiver asked for no longer applies; 1 notification(s) it refused are due now") },
                "\(logs.all.map(\.message))")
        await old.stop()
        await new.stop()
    }

    /// A pause recorded for the receiver the destination pointed to before: the operator
    /// repointed it since, so the pause is not honoured, and its row goes.
    @Test func aPauseOfAnotherReceiverIsIgnoredAndRemoved() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook", count: 2)
        let now = Date()
        try outbox.recordReceiverPause(ReceiverPause(destination: "hook", until: now.addingTimeInterval(600), httpStatus: 429,
                                                     setAt: now, receiver: "https://old-hooks.example.com"))
        let (logger, logs) = Fixtures.capturingLogger()
        let result = try await withNotifier(outbox, [destination], logger: logger) { await $0.drain(until: Date().addingTimeInterval(5)) }
        #expect(result.delivered == 2, "\(result)")
        #expect(result.pausedByReceiver.isEmpty)
        #expect(server.requests.count == 2)
        #expect(try outbox.receiverPause(destination: "hook") == nil)
        #expect(logs.all.contains { $0.message.contains("former receiver https://old-hooks.example.com") }, "\(logs.all.map(\.message))")
    }

    /// The receiver asked for 1 s while the clock was an hour ahead (set back since): the
    /// pause lasts the second it asked for, not an hour and a second, and its row then goes
    /// (kept, every later start would pause again).
    @Test func aPauseWrittenBeforeTheClockWasSetBackLastsWhatWasAskedAndGoes() async throws {
        let server = try await startedServer([])
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url, minInterval: "0ms")
        try Fixtures.enqueue(outbox, destination: "hook")
        let setAt = Date().addingTimeInterval(3_600)
        try outbox.recordReceiverPause(ReceiverPause(destination: "hook", until: setAt.addingTimeInterval(1), httpStatus: 503,
                                                     setAt: setAt, receiver: destination.redactedURL))
        let started = ContinuousClock.now
        let result = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(10)) }
        #expect(result.delivered == 1, "\(result)")
        let arrival = try #require(server.requests.first?.arrival)
        #expect(arrival - started >= .milliseconds(950), "not paused: \(arrival - started)")
        #expect(arrival - started < .seconds(5), "paused longer than asked: \(arrival - started)")
        #expect(try outbox.receiverPause(destination: "hook") == nil, "the ended pause's row stayed")
        await server.stop()
    }

    /// The pause's row holds where the destination points (scheme, host, port) and nothing
    /// of its URL's path, query or userinfo, nor of its headers: none of it is anywhere in
    /// the state database.
    @Test func aPauseRecordsNoSecretOfTheDestination() async throws {
        let server = try await startedServer([], otherwise: .status(429, headers: [("Retry-After", "600")]))
        let folder = try Fixtures.temporaryDirectory()
        let path = folder.appendingPathComponent("state.sqlite").path
        let outbox = Outbox(database: try StateDatabase(path: path))
        let url = "http://operator:pw-very-secret@127.0.0.1:\(server.port)/hooks/secret-token?key=abc"
        let destination = try Fixtures.destination(url: url, headers: ["X-Api-Key": "k-very-secret-value"], in: folder)
        try Fixtures.enqueue(outbox, destination: "hook")
        _ = try await withNotifier(outbox, [destination]) { await $0.drain(until: Date().addingTimeInterval(0.5)) }
        #expect(server.requests.count == 1)
        let row = try #require(try outbox.receiverPause(destination: "hook"))
        #expect(row.receiver == "http://127.0.0.1:\(server.port)")
        #expect(row.httpStatus == 429)
        let secrets = ["operator", "pw-very-secret", "secret-token", "key=abc", "k-very-secret-value"]
        for secret in secrets {
            #expect(!"\(row)".contains(secret), "the pause's row holds \(secret): \(row)")
        }
        // And the file as a whole (with its write-ahead log), which the row lives in.
        for file in [path, path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            for secret in secrets {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds \(secret)")
            }
        }
        await server.stop()
    }
}
