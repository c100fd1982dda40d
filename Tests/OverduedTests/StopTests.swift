import Foundation
import Notifier
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The app's side of a lock: a `sqlite3` shell holding a write transaction on the tickets
/// database (rollback journal: readers wait) until `release()`.
private final class AppLock {
    let shell: SQLiteShellSession

    init(_ database: String) throws {
        shell = try SQLiteShellSession(database, sql: "BEGIN EXCLUSIVE; UPDATE tickets SET title = title WHERE id = 1;")
    }

    func release() {
        shell.end(with: "COMMIT;")
    }
}

/// `SIGTERM` while a tick works: the contract's "stop accepting ticks" and systemd's
/// `TimeoutStopSec=15s` want the stop within seconds, whatever the tick is doing.
@Suite(.serialized) struct StopTests {
    /// A tick waiting for the app's lock (up to `busy_timeout`, 30 s here) gives up at once:
    /// the daemon stops in about a second, says nothing more to systemd after STOPPING=1, and
    /// a reload or "check now" sent after the stop is not acted on.
    @Test func aStopDuringAWaitForTheAppsLockIsPrompt() throws {
        let watched = try WatchedDaemon()
        let (tickets, daemon) = (watched.tickets, watched.daemon)

        let lock = try AppLock(tickets)     // held once this returns
        defer { lock.release() }
        daemon.signal(SIGUSR1)              // a tick that now waits for the lock
        #expect(watched.waitForTickStart(), "got \(watched.seen); log: \(daemon.log)")
        usleep(500_000)                     // from its start to the wait: the first read of a few rows
        let stopAsked = Date()
        daemon.signal(SIGTERM)
        #expect(watched.waitForStatus(timeout: 10) { $0.contains("STOPPING=1") }, "got \(watched.seen); log: \(daemon.log)")
        daemon.signal(SIGHUP)               // after the stop began: neither is acted on
        daemon.signal(SIGUSR1)
        let status = daemon.waitForExit(timeout: 25)
        let took = Date().timeIntervalSince(stopAsked)
        #expect(status == 0, "log: \(daemon.log)")
        #expect(took < 10, "stopped \(took) s after SIGTERM (busy_timeout 30 s); log: \(daemon.log)")
        #expect(daemon.log.contains("tick interrupted: overdued is stopping"), "log: \(daemon.log)")
        #expect(!daemon.log.contains("tick skipped"), "log: \(daemon.log)")

        let seen = watched.rest()
        let stopping = try #require(seen.firstIndex { $0.contains("STOPPING=1") }, "got \(seen)")
        let after = seen[(stopping + 1)...]
        #expect(!after.contains { $0.contains("READY=1") || $0.contains("RELOADING=1") || $0.hasPrefix("STATUS=") },
                "sent after STOPPING=1: \(Array(after))")
    }

    /// Answers come back while another process holds the state database's write lock, and
    /// `busy_timeout` is 30 s: their records would each wait that long, one after another,
    /// past systemd's TimeoutStopSec=15s. After the 5 s grace the waits end: the daemon exits
    /// 0 within seconds, says the answered attempts were not recorded, and they stay queued.
    @Test func aStopWhileTheStateDatabaseIsLockedEndsAfterTheGrace() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let lock = StateLock(folder.url("state.sqlite"))
        let arrivals = LockedCounter()
        // The first request takes the lock; each answer then comes a second later.
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { _ in
            if arrivals.increment() == 1 { lock.take() }
            usleep(1_000_000)
        }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hook",
                                                                busyTimeout: "30s"))
        let daemon = try DaemonChild(config: config, environment: [:])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        let deadline = Date().addingTimeInterval(30)
        while !lock.isHeld, lock.failure == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(lock.isHeld, "the state database's lock was not taken: \(lock.failure ?? "no request came"); log: \(daemon.log)")
        let stopAsked = Date()
        daemon.signal(SIGTERM)
        let status = daemon.waitForExit(timeout: 90)
        let took = Date().timeIntervalSince(stopAsked)
        lock.release()
        #expect(lock.failure == nil, "the state database's lock was not taken")
        #expect(status == 0, "log: \(daemon.log)")
        #expect(took < 12, "stopped \(took) s after SIGTERM (grace 5 s, busy_timeout 30 s); log: \(daemon.log)")
        #expect(daemon.log.contains("answered attempt(s) still wait for the state database"), "log: \(daemon.log)")
        #expect(daemon.log.split(separator: "\n").contains { $0.contains(" delivered to hook ") && $0.contains("(not recorded yet)") && $0.contains("recorded=no") },
                "a delivered line says its record waits; log: \(daemon.log)")
        let delivered = try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM notification WHERE status = 'delivered'")
        #expect(delivered.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "nothing recorded under the lock; log: \(daemon.log)")
    }

    /// A tick whose enqueue waits for another process's lock on the state database (30 s of
    /// `busy_timeout`) does not hold the stop: it waits through the grace like the records,
    /// then gives up, and the daemon exits 0 within seconds with nothing of the tick queued.
    @Test func aTickWaitingForTheStateDatabasesLockDoesNotHoldTheStop() throws {
        let watched = try WatchedDaemon()
        let (folder, tickets, daemon) = (watched.folder, watched.tickets, watched.daemon)
        try SQLiteShellSession(tickets, sql: """
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (100, 'IGP-2026-0100', 'Neuf', 'x', 1, 'received', 'high', 1, 1, '2026-01-05 08:00:00');
            """).end()
        let lock = StateLock(folder.url("state.sqlite"))
        lock.take()
        defer { lock.release() }
        try #require(lock.failure == nil, "the state database's lock was not taken: \(lock.failure ?? "")")
        daemon.signal(SIGUSR1)               // a tick that has IGP-2026-0100 to enqueue, and waits
        #expect(watched.waitForTickStart(), "got \(watched.seen); log: \(daemon.log)")
        usleep(1_000_000)                    // from its start to the enqueue: a read of a few rows
        let stopAsked = Date()
        daemon.signal(SIGTERM)
        let status = daemon.waitForExit(timeout: 60)
        let took = Date().timeIntervalSince(stopAsked)
        #expect(status == 0, "log: \(daemon.log)")
        #expect(took < 12, "stopped \(took) s after SIGTERM (grace 5 s, busy_timeout 30 s); log: \(daemon.log)")
        #expect(daemon.log.contains("tick interrupted: overdued is stopping"), "log: \(daemon.log)")
        #expect(!daemon.log.contains("enqueued IGP-2026-0100"), "log: \(daemon.log)")
    }

    /// A stop waits up to 5 s for requests in flight; meanwhile the loops wind down on purpose
    /// and systemd no longer watches (STOPPING=1): no "watchdog pings stopped" error then,
    /// even with a watchdog shorter than the grace.
    @Test func aStopWithRequestsInFlightIsNoWatchdogAlarm() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        // A receiver that never answers: the kernel accepts the connections, nobody reads them.
        let receiver = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(receiver) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) == 0 && listen(receiver, 16) == 0
                && getsockname(receiver, $0, &length) == 0 }
        }
        #expect(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hook")
            .replacingOccurrences(of: "\"timeout\": \"2s\"", with: "\"timeout\": \"60s\""))
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        var seen: [String] = []
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("STATUS=last tick") } != nil, "got \(seen); log: \(daemon.log)")
        let request = acceptRequestHead(on: receiver, timeout: 20)      // one request, now in flight for good
        defer { if request >= 0 { close(request) } }
        #expect(request >= 0, "no request reached the receiver; log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 30) == 0, "log: \(daemon.log)")
        #expect(daemon.log.contains("cancelling"), "requests were in flight at the stop; log: \(daemon.log)")
        #expect(!daemon.log.contains("watchdog pings stopped"), "log: \(daemon.log)")
    }

    /// A reload that replaces the rules while a tick runs (here: waits for the app's lock)
    /// stops that tick before its enqueue commits, and the daemon evaluates again with the new
    /// rules. The tick used to go on with the old rules and queue what a rule just removed
    /// matched, for the notifier to send until the next tick withdrew it.
    @Test func aReloadThatReplacesTheRulesDuringATickStopsIt() throws {
        let watched = try WatchedDaemon()
        let (folder, tickets, daemon) = (watched.folder, watched.tickets, watched.daemon)
        #expect(daemon.waitFor("8 enqueued"), "log: \(daemon.log)")

        // The app adds two overdue tickets in a transaction it holds open; a tick waits for it.
        let app = try SQLiteShellSession(tickets, sql: """
            BEGIN EXCLUSIVE;
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (100, 'IGP-2026-0100', 'Neuf', 'x', 1, 'received', 'high', 1, 1, '2026-01-05 08:00:00'),
                   (101, 'IGP-2026-0101', 'Neuf', 'x', 1, 'received', 'high', 1, 1, '2026-01-05 08:00:00');
            """)
        daemon.signal(SIGUSR1)
        #expect(watched.waitForTickStart(), "the tick started; got \(watched.seen); log: \(daemon.log)")
        _ = try folder.write("config.json", configJSON(interval: "1h", rules: """
            [{"name": "closed-only", "match": {"status_in": ["completed"]}, "destinations": ["hook"]}]
            """, busyTimeout: "30s"))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("changed rules"), "log: \(daemon.log)")
        app.end(with: "COMMIT;")
        #expect(daemon.waitFor("tick stopped by a reload that changed the rules"), "log: \(daemon.log)")
        #expect(daemon.waitFor("8 queued notification(s) withdrawn"), "the rerun weighs the queue with the new rules; log: \(daemon.log)")
        let queued = try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM notification WHERE ticket >= 100")
        #expect(queued.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "nothing queued under the removed rule; log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// A tick over a hundred thousand matches runs for seconds; a stop interrupts it, and
    /// what it would have enqueued is not (one transaction, rolled back): the next start
    /// evaluates again, so nothing is lost.
    @Test func aStopInterruptsALongTickWhichThenEnqueuesNothing() throws {
        let folder = try TemporaryDirectory()
        let demo = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "100000", "--sink", "127.0.0.1:9"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let config = try folder.write("config.json", configJSON(
            tickets: folder.url("demo/tickets.sqlite"), state: folder.url("state.sqlite"), interval: "1h",
            rules: #"[{"name": "every-past-date", "destinations": ["hook"]}]"#))
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        var seen: [String] = []
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("STATUS=") && $0.contains("tick running since") } != nil,
                "the first tick started; got \(seen); log: \(daemon.log)")
        daemon.signal(SIGTERM)
        let status = daemon.waitForExit(timeout: 60)
        #expect(status == 0, "log: \(daemon.log)")
        #expect(daemon.log.contains("tick interrupted: overdued is stopping"), "log: \(daemon.log)")
        #expect(!daemon.log.contains(" enqueued in "), "the tick ran to its end; log: \(daemon.log)")
        let queued = try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM notification")
        #expect(queued.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// A reload that changes the schedule says at once when the next tick now is (it used to
    /// show the old schedule's until the next tick), and one that lowers `log.level` to
    /// "error" still leaves its own record.
    @Test func aReloadShowsItsNextTickAndLogsItselfWhateverTheNewLevel() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        var seen: [String] = []
        let first = try #require(listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("STATUS=last tick") }, "got \(seen)")
        let nextBefore = try #require(first.range(of: "next tick ").map { String(first[$0.upperBound...]) })

        _ = try folder.write("config.json", configJSON(interval: "3h").replacingOccurrences(of: "\"level\": \"info\"", with: "\"level\": \"error\""))
        daemon.signal(SIGHUP)
        let ready = try #require(listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("READY=1") }, "got \(seen)")
        let nextAfter = ready.range(of: "next tick ").map { String(ready[$0.upperBound...]) }
        #expect(nextAfter != nil && nextAfter != nextBefore, "before: \(nextBefore); after reload: \(ready)")
        #expect(daemon.waitFor("reloaded \(config): changed", timeout: 5), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// Under systemd, secret files in $CREDENTIALS_DIRECTORY are the copies made at start: a
    /// reload says so, since a credential rotated at its source is not seen until a restart.
    @Test func aReloadUnderCredentialsSaysARotatedOneNeedsARestart() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let credentials = try TemporaryDirectory()
        try Data("http://127.0.0.1:9/hooks/secret-token\n".utf8).write(to: URL(fileURLWithPath: credentials.url("webhook-url")))
        let config = try folder.write("config.json", configJSON(interval: "1h").replacingOccurrences(
            of: "\"url\": \"http://127.0.0.1:9/hooks/secret-token\"", with: "\"url_file\": \"webhook-url\""))
        let daemon = try DaemonChild(config: config, environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("reloaded \(config): no changes (secret files in $CREDENTIALS_DIRECTORY are the copies systemd made at start",
                               timeout: 10), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }
}

/// `overdued run` on the usual tickets (hourly ticks, `busy_timeout` 30 s) with a stand-in for
/// systemd's notification socket, once its first tick is done; killed when the test ends.
private final class WatchedDaemon {
    let folder: TemporaryDirectory
    let tickets: String
    let listener: NotifyListener
    let daemon: DaemonChild
    /// Every datagram read so far.
    private(set) var seen: [String] = []

    init() throws {
        folder = try TemporaryDirectory()
        tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1h", busyTimeout: "30s"))
        listener = try NotifyListener(path: folder.url("notify.sock"))
        daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        #expect(waitForStatus { $0.hasPrefix("STATUS=last tick") }, "got \(seen); log: \(daemon.log)")
    }

    deinit {
        daemon.signal(SIGKILL)
        _ = daemon.waitForExit(timeout: 10)
    }

    /// Reads datagrams until one satisfies `predicate`; whether one did in time.
    func waitForStatus(timeout: TimeInterval = 20, _ predicate: (String) -> Bool) -> Bool {
        listener.waitFor(timeout: timeout, seen: &seen, predicate) != nil
    }

    /// Until STATUS says a tick runs: from then on, a signal meets that tick.
    func waitForTickStart() -> Bool {
        waitForStatus { $0.hasPrefix("STATUS=") && $0.contains("tick running since") }
    }

    /// Every datagram read, with those still coming within half a second.
    func rest() -> [String] {
        while let message = listener.receive(timeout: 0.5) { seen.append(message) }
        return seen
    }
}

/// Accepts a connection on the listening `socket` and reads until the end of a request's head;
/// the connection, left open and unanswered, or -1 if none came within `timeout` seconds.
private func acceptRequestHead(on socket: Int32, timeout: TimeInterval) -> Int32 {
    let deadline = Date().addingTimeInterval(timeout)
    func readable(_ descriptor: Int32) -> Bool {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) > 0
    }
    guard readable(socket) else { return -1 }
    let connection = accept(socket, nil, nil)
    guard connection >= 0 else { return -1 }
    var head = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while !String(decoding: head, as: UTF8.self).contains("\r\n\r\n") {
        guard readable(connection) else { close(connection); return -1 }
        let count = recv(connection, &buffer, buffer.count, 0)
        guard count > 0 else { close(connection); return -1 }
        head.append(contentsOf: buffer[0..<count])
    }
    return connection
}

/// Another process's write transaction on the state database, from `take()` to `release()`.
private final class StateLock: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var shell: SQLiteShellSession?
    private var error: (any Error)?

    init(_ path: String) { self.path = path }

    /// Returns once the write lock is held (or the shell said why not: see `failure`).
    func take() {
        lock.lock(); defer { lock.unlock() }
        do { shell = try SQLiteShellSession(path, sql: "BEGIN IMMEDIATE; DELETE FROM receiver_pause;") } catch { self.error = error }
    }

    /// Whether `take()` got the lock (and `release()` has not given it back).
    var isHeld: Bool {
        lock.lock(); defer { lock.unlock() }
        return shell != nil
    }

    /// Why `take()` did not get the lock, if it did not.
    var failure: String? {
        lock.lock(); defer { lock.unlock() }
        return error.map { "\($0)" }
    }

    func release() {
        lock.lock(); defer { lock.unlock() }
        shell?.end(with: "COMMIT;")
        shell = nil
    }
}

private final class LockedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}

/// The app holds its database past `busy_timeout` while the service starts (a long write, or a
/// write of its own to roll back first): what a tick meets is skipped and tried again, and so
/// is the start, which exited 1 before; with `Restart=on-failure` and StartLimitBurst=5 that
/// ended in a failed unit, delivering nothing, once the app took a while.
@Suite(.serialized) struct StartWhileTheAppHoldsItsDatabaseTests {
    @Test func theStartGoesOnAndTheTicksReadTheDatabaseOnceTheAppLetsGo() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1s", busyTimeout: "300ms"))
        let lock = try AppLock(tickets)     // held once this returns
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        defer {
            daemon.signal(SIGKILL)
            _ = daemon.waitForExit(timeout: 10)
        }
        var seen: [String] = []
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.contains("READY=1") } != nil, "got \(seen); log: \(daemon.log)")
        #expect(daemon.waitFor("ticks try to open it again until they can; queued notifications are delivered meanwhile"), "log: \(daemon.log)")
        #expect(daemon.waitFor("is there but cannot be opened"), "a tick meanwhile is skipped; log: \(daemon.log)")
        #expect(!daemon.log.contains("enqueued"))
        lock.release()
        #expect(daemon.waitFor("can be opened again; reading it"), "log: \(daemon.log)")
        #expect(daemon.waitFor(" enqueued"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 15) == 0, "log: \(daemon.log)")
    }
}

/// The app holding its lock past `busy_timeout` while the daemon runs: the tick's first read
/// (of the schema's version) waits that long, and the tick is skipped there; it went on to its
/// own read, and waited as long again (10 s a skipped tick at 5 s).
@Suite(.serialized) struct TickWhileTheAppHoldsItsDatabaseTests {
    @Test func theTickIsSkippedAtItsFirstWaitAndGoesOnOnceTheAppLetsGo() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1s", busyTimeout: "300ms"))
        let daemon = try DaemonChild(config: config, environment: [:])
        defer {
            daemon.signal(SIGKILL)
            _ = daemon.waitForExit(timeout: 10)
        }
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        let lock = try AppLock(tickets)
        #expect(daemon.waitFor("tickets.sqlite: could not read the database's schema version: the database is locked"), "log: \(daemon.log)")
        lock.release()
        let skipped = daemon.occurrences(of: "tick skipped")
        #expect(daemon.waitFor("0 enqueued", count: daemon.occurrences(of: "0 enqueued") + 2), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "tick skipped") <= skipped + 1, "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 15) == 0, "log: \(daemon.log)")
    }
}
