import Foundation
import GRDB
@testable import Notifier
import OverduedConfig
import Store
import Testing

/// Delivery while the state database fails: an attempt that cannot be recorded is not sent
/// again, and a queue that cannot be read ends `once`'s drain instead of hanging it.
@Suite(.serialized) struct StateDatabaseFailureTests {
    /// An outbox on a fresh state file that gives up on a lock after 100 ms, and the file.
    func outbox() throws -> (Outbox, String) {
        let path = try Fixtures.temporaryDirectory().appendingPathComponent("state.sqlite").path
        return (Outbox(database: try StateDatabase(path: path, busyTimeout: .milliseconds(100))), path)
    }

    /// Damages the file as a failing disk would: the page that roots `name` (a table or an
    /// index; after a checkpoint, so that the file holds it) overwritten with garbage.
    func overwriteRootPage(of name: String, in path: String) async throws {
        let (root, pageSize) = try await DatabaseQueue(path: path).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = ?", arguments: [name]) ?? 0,
                    try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096)
        }
        #expect(root > 1)
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: UInt64((root - 1) * pageSize))
        try file.write(contentsOf: Data(repeating: 0xA5, count: pageSize))
        try file.close()
    }

    /// Another process's write transaction on `path`, held until `release()`: readers go on
    /// (WAL), writers wait and give up.
    final class WriteLock: Sendable {
        private let queue: DatabaseQueue

        init(_ path: String) throws {
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true // the point: a transaction left open
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        }

        func release() throws {
            try queue.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        }
    }

    /// Polls until `condition` holds or `seconds` pass. The limits are generous: a loaded
    /// machine running every suite at once can starve the first seconds of a test (CI once
    /// took over 5 s to see the first request); a passing test returns as soon as it holds.
    func waitUntil(seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }

    @Test func anAttemptTheDatabaseRefusesIsRecordedLaterAndNotSentAgain() async throws {
        let server = ScriptedServer([], otherwise: .status(200))
        try await server.start()
        defer { Task { await server.stop() } }
        let (outbox, path) = try outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 3)
        let (logger, logs) = Fixtures.capturingLogger()
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: logger)
        let lock = try WriteLock(path)
        let running = Task { await notifier.run() }

        #expect(try await waitUntil(seconds: 30) { server.requests.count >= 1 })
        // The first attempt could not be recorded (said once its answer came back, which a
        // loaded machine may take seconds to process after the receiver saw the request): the
        // destination sends nothing new, and the first notification does not go again, for
        // as long as the database refuses.
        #expect(try await waitUntil(seconds: 30) {
            logs.all.contains { $0.level == .error && $0.message.contains("cannot record the delivery attempt") }
        })
        try await Task.sleep(for: .seconds(3))
        #expect(server.requests.count == 1)

        try lock.release()
        #expect(try await waitUntil(seconds: 30) { try outbox.counts().delivered == 3 })
        await notifier.shutdown(grace: .milliseconds(100))
        running.cancel()
        await running.value

        let sent = server.requests.compactMap { $0.header("webhook-id") }
        #expect(sent.count == 3)
        #expect(Set(sent) == Set(ids))
        for id in ids {
            #expect(try outbox.attempts(notificationID: id).count == 1)
        }
        #expect(logs.all.contains { $0.message.contains("recorded 1 delivery attempt(s) that the state database had refused") })
    }

    @Test func onceReportsAttemptsItCouldNotRecordAndTheyStayQueued() async throws {
        let server = ScriptedServer([], otherwise: .status(200))
        try await server.start()
        defer { Task { await server.stop() } }
        let (outbox, path) = try outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 2)
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Fixtures.capturingLogger().0)
        let lock = try WriteLock(path)
        let result = await notifier.drain(until: Date().addingTimeInterval(1))
        await notifier.shutdown(grace: .milliseconds(100))
        try lock.release()

        #expect(result.unrecorded == 1)
        #expect(result.delivered == 0)
        #expect(result.stateDatabaseFailed)
        #expect(server.requests.count == 1)
        // Still queued, unattempted as far as the database knows: it goes again, same id.
        for id in ids {
            #expect(try outbox.notification(id: id)?.status == .pending)
        }
    }

    @Test func aDamagedQueueEndsTheDrainAtOnceWithTheReason() async throws {
        let (outbox, path) = try outbox()
        try Fixtures.enqueue(outbox, destination: "hook", count: 200)
        // Overwrite the pages of the index that orders the due notifications.
        try await overwriteRootPage(of: "notification_due", in: path)

        let damaged = Outbox(database: try StateDatabase(path: path, busyTimeout: .milliseconds(100)))
        let destination = try Fixtures.destination(name: "hook", url: "http://127.0.0.1:9/never")
        let notifier = Notifier(outbox: damaged, destinations: [destination], userAgentVersion: "9", logger: Fixtures.capturingLogger().0)
        let started = Date()
        let drain = Task { await notifier.drain(until: Date().addingTimeInterval(60)) }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            drain.cancel()
        }
        let result = await drain.value
        watchdog.cancel()
        await notifier.shutdown(grace: .zero)

        #expect(Date().timeIntervalSince(started) < 10, "the drain waited for its 60 s deadline on a damaged queue")
        let reason = try #require(result.queueError)
        #expect(reason.contains(path))
        #expect(reason.contains("COMMIT;/' | sqlite3 NEW_FILE"))
        #expect(result.stateDatabaseFailed)
    }

    /// The attempts an earlier process cut off cannot be recorded because the file is damaged:
    /// the notifier says so (`stateDatabaseDamage`, on which the daemon stops with an error)
    /// instead of only trying again every few seconds for ever.
    @Test func aDamagedFileRefusingTheRecoverySaysItIsDamaged() async throws {
        let (outbox, path) = try outbox()
        let id = try Fixtures.enqueue(outbox, destination: "hook")[0]
        try outbox.record([], starting: [StartedAttempt(notificationID: id, attempt: 1, startedAt: Date().addingTimeInterval(-30))])
        try await overwriteRootPage(of: "sqlite_autoindex_notification_1", in: path)

        let damaged = Outbox(database: try StateDatabase(path: path, busyTimeout: .milliseconds(100)))
        let destination = try Fixtures.destination(name: "hook", url: "http://127.0.0.1:9/never")
        let notifier = Notifier(outbox: damaged, destinations: [destination], userAgentVersion: "9", logger: Fixtures.capturingLogger().0)
        let running = Task { await notifier.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while notifier.stateDatabaseDamage == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(notifier.stateDatabaseDamage?.kind == .corrupt)
        #expect(notifier.deliveriesHeld != nil)
        await notifier.shutdown(grace: .zero)
        running.cancel()
        _ = await running.value
    }

    /// A receiver's pause is written while another process holds the write lock: each write
    /// waits up to the busy timeout. Those waits happen off the cooperative pool, so the
    /// notifier's heartbeat (the watchdog's proof of life) goes on. More requests answer at
    /// once than the pool has threads: with the waits on the pool, the heartbeat stopped for
    /// as long as the lock was held.
    @Test func writesWaitingForALockDoNotStopTheHeartbeat() async throws {
        // Answered 3 s late: every request has started before the first answer pauses the rest.
        let server = ScriptedServer([], otherwise: .slow(.seconds(3), status: 429, headers: [("Retry-After", "3600")]))
        try await server.start()
        defer { Task { await server.stop() } }
        let path = try Fixtures.temporaryDirectory().appendingPathComponent("state.sqlite").path
        let outbox = Outbox(database: try StateDatabase(path: path, busyTimeout: .seconds(10)))
        let requests = 2 * ProcessInfo.processInfo.activeProcessorCount + 2
        let destination = try Fixtures.destination(url: server.url, concurrency: requests, timeout: "10s")
        try Fixtures.enqueue(outbox, destination: destination.name, count: requests)
        let beats = LockedBeats()
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9",
                                logger: Fixtures.capturingLogger().0, onHeartbeat: { _ in beats.beat() })
        let lock = try WriteLock(path)
        let start = ContinuousClock.now
        let running = Task { await notifier.run() }

        #expect(try await waitUntil(seconds: 30) { server.requests.count >= requests })
        // The answers come; the writes of their pauses then wait for the lock (up to 10 s
        // each, one after the other: the state database has one writer).
        try await Task.sleep(for: .seconds(7))
        let longest = beats.longestGap(since: start)
        try lock.release()
        await notifier.shutdown(grace: .milliseconds(100))
        running.cancel()
        await running.value
        #expect(longest < .seconds(3), "the heartbeat stopped for \(longest) while pauses waited for the lock")
    }

    /// Heartbeat instants, and the longest silence among them after a point.
    final class LockedBeats: Sendable {
        private let beats = LockedState<[ContinuousClock.Instant]>([])
        func beat() { beats.withLock { $0.append(.now) } }
        func longestGap(since start: ContinuousClock.Instant) -> Duration {
            let now = ContinuousClock.now
            let times = beats.withLock { $0 }.filter { $0 >= start }
            var previous = start
            var longest = Duration.zero
            for time in times + [now] {
                longest = max(longest, time - previous)
                previous = time
            }
            return longest
        }
    }
}

/// The attempts an earlier process cut off are counted before anything is sent; a state
/// database that refuses them holds deliveries back (the request that crashed that process
/// must not go again uncounted, beside others) instead of letting them go uncounted.
@Suite(.serialized) struct RefusedRecoveryTests {
    let failures = StateDatabaseFailureTests()

    /// Two notifications queued, the first with an attempt a process did not live to record,
    /// and the state database's write lock held by another connection.
    func cutOffAttemptBehindALock(_ server: ScriptedServer) throws
        -> (Outbox, [String], StateDatabaseFailureTests.WriteLock, Notifier, LogCapture) {
        let (outbox, path) = try failures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 2)
        try outbox.record([], starting: [StartedAttempt(notificationID: ids[0], attempt: 1, startedAt: Date().addingTimeInterval(-30))])
        let lock = try StateDatabaseFailureTests.WriteLock(path)
        let (logger, logs) = Fixtures.capturingLogger()
        return (outbox, ids, lock, Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: logger), logs)
    }

    @Test func onceSendsNothingAndSaysWhyWhenTheyCannotBeRecorded() async throws {
        let server = ScriptedServer([], otherwise: .status(200))
        try await server.start()
        defer { Task { await server.stop() } }
        let (outbox, ids, lock, notifier, logs) = try cutOffAttemptBehindALock(server)
        let result = await notifier.drain(until: Date().addingTimeInterval(5))
        await notifier.shutdown(grace: .zero)
        try lock.release()
        #expect(result.recoveryError != nil && result.stateDatabaseFailed, "\(result)")
        #expect(result.delivered == 0 && result.attempts == 0 && result.retrying == 2, "\(result)")
        #expect(server.requests.isEmpty)
        #expect(try outbox.interruptedAttempts(destinations: ["hook"]).map(\.started.notificationID) == [ids[0]], "the mark stays")
        #expect(logs.all.contains { $0.level == .error && $0.message.contains("nothing is sent by this run") })
    }

    /// A stop while the state database refuses them ends the run at once, not after the
    /// wait between two tries.
    @Test func aStopWhileTheyAreRefusedIsNotHeldBack() async throws {
        let server = ScriptedServer([], otherwise: .status(200))
        try await server.start()
        defer { Task { await server.stop() } }
        let (_, _, lock, notifier, logs) = try cutOffAttemptBehindALock(server)
        let running = Task { await notifier.run() }
        #expect(try await failures.waitUntil(seconds: 30) {
            logs.all.contains { $0.level == .error && $0.message.contains("no delivery starts until they are") }
        })
        let stopping = ContinuousClock.now
        await notifier.shutdown(grace: .zero)
        await running.value
        #expect(ContinuousClock.now - stopping < .seconds(2), "\(ContinuousClock.now - stopping)")
        try lock.release()
        #expect(server.requests.isEmpty)
    }

    @Test func theDaemonStartsDeliveringOnceTheyAreRecorded() async throws {
        let server = ScriptedServer([], otherwise: .status(200))
        try await server.start()
        defer { Task { await server.stop() } }
        let (outbox, ids, lock, notifier, logs) = try cutOffAttemptBehindALock(server)
        let running = Task { await notifier.run() }
        #expect(try await failures.waitUntil(seconds: 30) {
            logs.all.contains { $0.level == .error && $0.message.contains("no delivery starts until they are") }
        })
        try await Task.sleep(for: .seconds(1))
        #expect(server.requests.isEmpty, "nothing goes while the cut-off attempt is not counted")
        #expect(notifier.deliveriesHeld?.hasPrefix("deliveries held") == true, "for STATUS=")
        try lock.release()
        #expect(try await failures.waitUntil(seconds: 30) { try outbox.counts().delivered == 2 })
        #expect(notifier.deliveriesHeld == nil)
        await notifier.shutdown(grace: .milliseconds(100))
        running.cancel()
        await running.value
        #expect(try outbox.attempts(notificationID: ids[0]).map(\.attempt) == [1, 2])
        #expect(try outbox.attempts(notificationID: ids[0]).first?.error?.contains("overdued ended during this attempt") == true)
        #expect(logs.all.contains { $0.message.contains("deliveries start") })
    }
}
