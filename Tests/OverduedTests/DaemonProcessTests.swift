import Foundation
import Synchronization
import Notifier
@testable import Store
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Records what a receiver got, for assertions across threads.
final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    func add(_ id: String?) { lock.lock(); ids.append(id ?? "?"); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return ids }
}

/// A receiver on a free loopback port that records the `webhook-id` of each request, and a
/// folder whose tickets database holds `ScanCommandTests.rows` and whose config.json (ticking
/// every `interval`) posts to it.
struct ReceivingSetup {
    let folder: TemporaryDirectory
    let sink: WebhookSink
    let received = Received()
    let port: Int
    let config: String

    init(interval: String) async throws {
        folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let received = received
        sink = try WebhookSink(host: "127.0.0.1", port: 0) { received.add($0.webhookID) }
        port = try await sink.start()
        config = try folder.write("config.json", configJSON(interval: interval, destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token"))
    }
}

/// A running `overdued run` child process with its stderr collected.
final class DaemonChild {
    let process = Process()
    let stderr = LockedData()

    /// - Parameter stackKB: the stack size limit (`ulimit -s`) the daemon runs under, which
    ///   glibc also gives each thread it starts; nil: the inherited one.
    /// - Parameter openFiles: the soft and hard open files limits (`ulimit -Sn`, `-Hn`); nil:
    ///   the inherited ones.
    init(config: String, environment: [String: String], stackKB: Int? = nil, openFiles: (soft: Int, hard: Int)? = nil) throws {
        var limits: [String] = []
        if let stackKB { limits.append("ulimit -s \(stackKB)") }
        if let openFiles { limits += ["ulimit -Sn \(openFiles.soft)", "ulimit -Hn \(openFiles.hard)"] }
        if !limits.isEmpty {
            // exec: the shell's pid becomes the daemon's.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", (limits + ["exec \"$0\" run --config \"$1\""]).joined(separator: " && "), Binary.url.path, config]
        } else {
            process.executableURL = Binary.url
            process.arguments = ["run", "--config", config]
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "WATCHDOG_USEC")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let sink = stderr
        let ended = logEnded
        // At the end of the log the handler is unhooked: left in place, it would be called
        // again and again with nothing and keep a core busy for the rest of the test.
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                ended.reached.store(true, ordering: .releasing)
            } else {
                sink.append(data)
            }
        }
        try process.run()
    }

    /// Set once the daemon's stderr reached its end: the log then holds every line.
    private let logEnded = EndOfLog()

    private final class EndOfLog: Sendable {
        let reached = Atomic<Bool>(false)
    }

    var pid: pid_t { process.processIdentifier }
    var log: String { String(decoding: stderr.get(), as: UTF8.self) }

    func signal(_ number: Int32) { kill(pid, number) }

    /// How many times the log holds `text`.
    func occurrences(of text: String) -> Int { log.components(separatedBy: text).count - 1 }

    /// Waits until the log holds `text` `count` times; whether it did in time.
    func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while occurrences(of: text) < count, Date() < deadline { usleep(20_000) }
        return occurrences(of: text) >= count
    }

    /// Waits for exit; nil if it did not exit in time (then it is killed). Returns once the
    /// log also holds the last lines the daemon wrote (they come through the pipe's reader,
    /// which may lag behind the exit).
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        var status: Int32?
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        } else {
            status = process.terminationStatus
        }
        let logDeadline = Date().addingTimeInterval(10)
        while !logEnded.reached.load(ordering: .acquiring), Date() < logDeadline { usleep(5_000) }
        return status
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
    }
}

/// `overdued run` as systemd sees it: sd_notify datagrams on a real Unix socket, real signals.
@Suite(.serialized) struct DaemonProcessTests {
    /// After a restart, the first STATUS= (with READY=1) counts what is queued from before,
    /// instead of "queue 0, dead 0" until the first tick or delivery.
    @Test func theReadyStatusCountsTheQueueFromBefore() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 3)
        try sqlite3(folder.url("state.sqlite"), "UPDATE notification SET status = 'dead', dead_at = created_at WHERE rowid = 1")
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        defer {
            daemon.signal(SIGTERM)
            _ = daemon.waitForExit(timeout: 20)
        }
        var seen: [String] = []
        let ready = listener.waitFor(timeout: 20, seen: &seen) { $0.contains("READY=1") }
        #expect(ready?.contains("no tick yet; queue 2, dead 1") == true, "\(ready ?? "no READY=1: \(seen)"); log: \(daemon.log)")
    }

    @Test func readyStatusReloadAndStopFollowTheProtocol() async throws {
        let setup = try await ReceivingSetup(interval: "1s")
        let (folder, sink, received, port, config) = (setup.folder, setup.sink, setup.received, setup.port, setup.config)
        defer { Task { await sink.stop() } }
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"])
        var seen: [String] = []

        let ready = listener.waitFor(timeout: 20, seen: &seen) { $0.contains("READY=1") }
        #expect(ready != nil, "no READY=1; got \(seen); log: \(daemon.log)")
        let tick = listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("STATUS=last tick") }
        #expect(tick?.contains("matches") == true)
        #expect(seen.contains { $0.hasPrefix("STATUS=no tick yet") && $0.contains("; tick running since ") },
                "the first tick said it was running: \(seen)")
        #expect(tick?.contains("tick running since") == false && tick?.contains("; next tick ") == true, "\(tick ?? "")")
        #expect(listener.waitFor(timeout: 5, seen: &seen) { $0 == "WATCHDOG=1" } != nil, "watchdog pings while healthy")

        // Valid reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
        let reloaded = config.replacingOccurrences(of: "", with: "")
        try Data(configJSON(interval: "2s", destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token").utf8)
            .write(to: URL(fileURLWithPath: reloaded))
        daemon.signal(SIGHUP)
        let reloading = listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("RELOADING=1") }
        #expect(reloading?.contains("\nMONOTONIC_USEC=") == true)
        let readyAgain = listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("READY=1") }
        #expect(readyAgain != nil && readyAgain?.contains("reload failed") == false)

        // Broken reload: still running on the old config, the failure in STATUS and the log.
        try Data("{\"store\": {}}".utf8).write(to: URL(fileURLWithPath: config))
        daemon.signal(SIGHUP)
        let refused = listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("READY=1") }
        #expect(refused?.contains("reload failed") == true, "got \(seen)")
        #expect(daemon.process.isRunning)

        // SIGUSR1 runs a tick now.
        let ticksBefore = daemon.occurrences(of: "event=tick")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("SIGUSR1: checking now"), "log: \(daemon.log)")
        #expect(daemon.waitFor("event=tick", count: ticksBefore + 1), "log: \(daemon.log)")
        // The notice is no event of its own: only the tick it starts says event=tick.
        let notice = daemon.log.split(separator: "\n").first { $0.contains("SIGUSR1: checking now") }
        #expect(notice != nil && notice?.contains("event=") == false, "\(notice ?? "")")

        // All five overdue tickets were delivered.
        let deadline = Date().addingTimeInterval(10)
        while Set(received.all).count < 8, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        // Against the real clock every past-dated open assigned ticket is overdue (3, 13 and 18 too).
        #expect(Set(received.all).count == 8)

        daemon.signal(SIGTERM)
        let stopping = listener.waitFor(timeout: 10, seen: &seen) { $0.hasPrefix("STOPPING=1") }
        #expect(stopping != nil)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        let log = daemon.log
        #expect(log.contains("event=reload_failed"))
        #expect(log.contains("event=reload\n"))
        #expect(log.contains("event=start"))
        #expect(log.contains("event=stop"))
        #expect(log.contains("event=bad_row"))
        #expect(!log.contains("secret-token"), "no URL path in any log line")
    }

    @Test func statusCountsTheQueueBetweenTicks() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let received = Received()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { received.add($0.webhookID) }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        // One tick an hour: every STATUS= after the first one comes from between ticks. The
        // eight deliveries take over two seconds, so the tick's own line shows them queued.
        let json = configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hooks/t")
            .replacingOccurrences(of: #""min_interval": "0ms""#, with: #""min_interval": "300ms""#)
        let config = try folder.write("config.json", json)
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        var seen: [String] = []

        let tick = listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("STATUS=last tick") }
        #expect(tick?.contains("8 enqueued") == true, "got \(seen)")
        #expect(tick?.contains("queue 0,") == false, "got \(seen)")
        let drained = listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("STATUS=last tick") && $0.contains("queue 0, dead 0") }
        #expect(drained != nil, "STATUS= still counts the delivered notifications as queued: \(seen)")
        #expect(Set(received.all).count == 8)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    @Test func aSignalBeforeTheHandlersExistDoesNotKillIt() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        // SIGHUPs all through start-up (runtime set-up, config load, stores): its default
        // action would end the process. Nothing can guard the dynamic loader's first
        // milliseconds, so the first signal goes once /proc shows the start-up guard in place
        // (SIGHUP caught: bit 0 of SigCgt), the rest until READY=1.
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !Self.catches(SIGHUP, pid: daemon.pid) { usleep(500) }
        var sent = 0
        while Date() < deadline, listener.waitFor(timeout: 0.002, seen: &seen, { $0.contains("READY=1") }) == nil {
            daemon.signal(SIGHUP)
            sent += 1
        }
        #expect(seen.contains { $0.contains("READY=1") }, "log: \(daemon.log)")
        #expect(sent > 0, "signals were sent during start-up")
        #expect(daemon.process.isRunning)
        daemon.signal(SIGINT)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    @Test func aSIGTERMDuringStartUpIsACleanStop() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !Self.catches(SIGTERM, pid: daemon.pid) { usleep(200) }
        #expect(Self.catches(SIGTERM, pid: daemon.pid), "the handler was never seen installed: the signal below would not be sent during start-up")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) == 0, "log: \(daemon.log)")
    }

    /// Whether the process has a handler for the signal (`SigCgt` in /proc/PID/status).
    static func catches(_ number: Int32, pid: pid_t) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << (UInt64(number) - 1)) != 0
    }

    @Test func aBadConfigAtStartExitsOneWithTheProblems() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "5 m"))
        let result = try runOverdued(["run", "--config", config], timeout: 20)
        #expect(result.status == 1)
        #expect(result.stderr.contains("schedule.interval"), "\(result.stderr)")
    }

    /// A tickets database not there at the start (its disk mounted after the service starts)
    /// is what a running daemon meets when the file goes: it starts, says so, skips ticks and
    /// reads the file from the first tick that finds it. Exiting 1 instead ended in a failed
    /// unit after StartLimitBurst restarts within seconds.
    @Test func aTicketsDatabaseNotThereYetIsReadFromTheFirstTickThatFindsIt() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        var seen: [String] = []
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.hasPrefix("READY=1") } != nil, "got \(seen)")
        #expect(daemon.waitFor("\(tickets) does not exist (yet): ticks are skipped until a file is at that path"), "log: \(daemon.log)")
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.contains("skipped: tickets database missing") } != nil, "got \(seen)")
        // A reload that changes how the file is opened, while it is missing at the same path,
        // is applied (it was refused as "does not exist", and every other change with it).
        _ = try folder.write("config.json", configJSON(interval: "1h", busyTimeout: "3s"))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("reloaded \(config): changed store.busy_timeout"), "log: \(daemon.log)")

        try makeTicketsDatabase(at: tickets, rows: ScanCommandTests.rows)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("\(tickets) is there now; reading it"), "log: \(daemon.log)")
        #expect(daemon.waitFor("8 enqueued"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// An expired certificate in a destination's `tls` files is said at the start and again
    /// at each reload (the handshakes that need it fail only as "certificate verify failed").
    @Test func anExpiredCertificateIsWarnedAboutAtStartAndReload() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        _ = try folder.write("ca.pem", CheckConfigCommandTests.expiredAuthority)
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "https://127.0.0.1:9/hooks/secret-token",
                                                                destinationExtra: ", \"tls\": {\"ca_file\": \"ca.pem\"}"))
        let daemon = try DaemonChild(config: config, environment: [:])
        let warning = "destinations.hook.tls.ca_file: the certificate (Old authority) in \(folder.url("ca.pem")) expired on 2020-01-31T00:00:00Z"
        #expect(daemon.waitFor(warning), "log: \(daemon.log)")
        #expect(daemon.waitFor("started"))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor(warning, count: 2), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// The config's warnings (here a signing secret every user can read, and a header the
    /// client manages) are in the journal at the start and again at each reload, as
    /// check-config prints them.
    @Test func theConfigsWarningsAreLoggedAtStartAndReload() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let secret = try folder.write("signing-secret", "whsec_" + Data(repeating: 7, count: 32).base64EncodedString() + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: secret)
        let config = try folder.write("config.json", configJSON(interval: "1h",
            destinationExtra: ", \"signing_secret_file\": \"signing-secret\", \"headers\": {\"Connection\": \"keep-alive\"}"))
        let daemon = try DaemonChild(config: config, environment: [:])
        let readable = "destinations.hook.signing_secret_file: the secret file \(secret) is readable by every user (mode 0644)"
        let header = "destinations.hook.headers.Connection: Connection is not sent: the HTTP client manages the connection"
        #expect(daemon.waitFor(readable), "log: \(daemon.log)")
        #expect(daemon.waitFor(header), "log: \(daemon.log)")
        #expect(daemon.waitFor("started"))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor(readable, count: 2), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }
}

/// The daemon prunes delivered and dead history older than store.history_retention, and
/// leaves recent history, queued notifications and the dedup state alone.
@Suite(.serialized) struct HistoryRetentionTests {
    /// A state database with one notification ended 40 days ago and one a day ago, under a
    /// config that keeps 30 days of history; returns the config file.
    private func seedHistory(in folder: TemporaryDirectory, interval: String) throws -> String {
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: interval)
            .replacingOccurrences(of: "\"busy_timeout\": \"1s\"", with: "\"busy_timeout\": \"1s\", \"history_retention\": \"30d\""))
        let now = Date()
        let old = now.addingTimeInterval(-40 * 86_400)
        let outbox = Outbox(database: try StateDatabase(path: folder.url("state.sqlite")))
        func notification(_ id: String, at date: Date) -> OverdueNotification {
            OverdueNotification(id: id, rule: "old-rule", ticket: 1, ticketID: "IGP-1", destination: "hook",
                                snapshot: Data("{}".utf8), createdAt: date)
        }
        try outbox.enqueue([notification("msg_old", at: old), notification("msg_recent", at: now.addingTimeInterval(-86_400))],
                           dedup: [DedupRecord(rule: "old-rule", ticket: 1, lastNotifiedAt: old, scheduledDate: nil,
                                               assignedTo: 1, status: "received", priority: "high")])
        for id in ["msg_old", "msg_recent"] {
            try outbox.record(DeliveryAttempt(notificationID: id, attempt: 1, startedAt: old, durationMilliseconds: 5, httpStatus: 200),
                              outcome: .delivered, now: old)
        }
        return config
    }

    @Test func oldHistoryIsPrunedAtTheFirstTick() throws {
        let folder = try TemporaryDirectory()
        let config = try seedHistory(in: folder, interval: "1h")
        let daemon = try DaemonChild(config: config, environment: [:])
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("event=tick"), Date() < deadline { usleep(20_000) }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        #expect(daemon.log.contains("pruned 1 notification(s) older than 30d"), "log: \(daemon.log)")
        let outbox = Outbox(database: try StateDatabase(path: folder.url("state.sqlite")))
        #expect(try outbox.notification(id: "msg_old") == nil)
        #expect(try outbox.notification(id: "msg_recent") != nil)
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1])[1] != nil, "dedup state is not history")
    }

    /// A prune the state database refuses (here a trigger; in the field a full disk, which
    /// pruning is what frees) is warned once, tried again at each tick rather than an hour
    /// later, and said to work again when it does.
    @Test func aRefusedPruneIsWarnedOnceAndTriedAgainAtEachTick() throws {
        let folder = try TemporaryDirectory()
        let config = try seedHistory(in: folder, interval: "1s")
        let state = folder.url("state.sqlite")
        try sqlite3(state, "CREATE TRIGGER test_refuses_pruning BEFORE DELETE ON notification BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;")
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick", count: 4), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "could not prune the history (tried again at each tick)") == 1, "log: \(daemon.log)")
        #expect(daemon.log.contains("refused by the test"), "log: \(daemon.log)")
        try sqlite3(state, "DROP TRIGGER test_refuses_pruning")
        #expect(daemon.waitFor("the history can be pruned again"), "log: \(daemon.log)")
        #expect(daemon.waitFor("pruned 1 notification(s) older than 30d"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        #expect(daemon.occurrences(of: "could not prune the history") == 1, "log: \(daemon.log)")
        let outbox = Outbox(database: try StateDatabase(path: folder.url("state.sqlite")))
        #expect(try outbox.notification(id: "msg_old") == nil)
        #expect(try outbox.notification(id: "msg_recent") != nil)
    }
}

/// The app's database is often an export, refreshed by writing a new file and renaming it
/// over the old one; an open SQLite connection would read the old file for ever.
struct TicketsFileReplacementTests {
    static let overdue = "2026-11-20 08:00:00"
    static let one = [TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: overdue)]
    static let two = one + [TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: overdue)]

    /// `overdued run` ticking hourly (and on SIGUSR1) on `tickets.sqlite` holding `rows`, once
    /// its first tick has enqueued the first row.
    static func daemon(on rows: [TicketRow], in folder: TemporaryDirectory) throws -> DaemonChild {
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: rows)
        let daemon = try DaemonChild(config: try folder.write("config.json", configJSON(interval: "1h")), environment: [:])
        #expect(daemon.waitFor("enqueued \(rows[0].ticketID)"), "log: \(daemon.log)")
        // The tick's summary line comes after its enqueue lines: wait for it too, so that tests
        // counting ticks start from a finished one.
        #expect(daemon.waitFor("tick: "), "log: \(daemon.log)")
        return daemon
    }

    /// A rule removed by a reload (written too wide, say) has its queue withdrawn at once, not
    /// at the next scheduled tick (an hour away here), which would have let the queue be
    /// delivered meanwhile; a reload changing only the schedule runs no tick of its own.
    @Test func aReloadThatRemovesARuleWithdrawsItsQueueAtOnce() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.two, in: folder)
        #expect(daemon.waitFor("not delivered to hook"), "log: \(daemon.log)")
        let ticks = daemon.occurrences(of: "tick: ")
        let config = folder.url("config.json")
        _ = try folder.write("config.json", configJSON(interval: "2h"))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("reloaded \(config): changed schedule"), "log: \(daemon.log)")
        usleep(500_000)
        #expect(daemon.occurrences(of: "tick: ") == ticks, "a schedule change runs no tick: \(daemon.log)")

        _ = try folder.write("config.json", configJSON(interval: "2h", rules: """
            [{"name": "new-rule", "match": {"status_in": ["nonexistent"]}, "repeat": {"every": "24h"}, "destinations": ["hook"]}]
            """))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("reloaded \(config): changed rules"), "log: \(daemon.log)")
        #expect(daemon.waitFor("; 2 queued notification(s) withdrawn"), "withdrawn by a tick at once: \(daemon.log)")
        #expect(daemon.occurrences(of: "tick: ") == ticks + 1, "\(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// Notifications queued by a rule the config no longer has (removed while overdued was
    /// stopped) are held from the start until a tick has weighed them: while the app holds its
    /// database and the first tick waits for it, none is sent. (That tick failing ends the
    /// hold: the queue then goes as before, until a tick withdraws it.)
    @Test func aRemovedRulesQueueIsHeldUntilATickHasWeighedIt() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.two)
        let arrivals = Locked<[Date]>([])
        let sink = try WebhookSink(port: 0) { _ in arrivals.withLock { $0.append(Date()) } }
        let port = try await sink.start()
        let url = "http://127.0.0.1:\(port)/hook"
        let queued = try runOverdued(["scan", "--config", try folder.write("config.json", configJSON(destinationURL: url))])
        #expect(queued.status == 0 && (queued.stdout + queued.stderr).contains("enqueued 2 notifications"), "\(queued.stdout) \(queued.stderr)")
        let renamed = configJSON(rules: """
            [{"name": "new-rule", "match": {"status_in": ["received", "diagnostic"], "assigned": true},
              "repeat": {"every": "24h"}, "destinations": ["hook"]}]
            """, destinationURL: url, busyTimeout: "3s")
        let config = try folder.write("config.json", renamed)
        let app = try SQLiteShellSession(folder.url("tickets.sqlite"), sql: "BEGIN EXCLUSIVE; UPDATE tickets SET title = title WHERE id = 1;")
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("tick skipped"), "log: \(daemon.log)")
        // The tick's end releases the hold (the queue may go at once): what arrived came after
        // the line saying it was skipped, never before (the log's instants, to the millisecond).
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("tick skipped") })
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let skippedAt = try #require(format.date(from: String(line.split(separator: " ")[0])), "\(line)")
        #expect(arrivals.current.allSatisfy { $0 >= skippedAt }, "sent while held, before \(skippedAt): \(arrivals.current); \(daemon.log)")
        app.end(with: "COMMIT;")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        await sink.stop()
    }

    /// A destination renamed by a reload: its queue is not tried, the reload says so, and the
    /// tick the reload runs withdraws it; the tickets' dedup state goes back (nothing was
    /// sent), and the next tick notifies the new destination. (On hold until the old name was
    /// back, the queue kept the new destination from getting them for their whole repeat.)
    @Test func aRenamedDestinationsQueueIsWithdrawnAndHandedToTheNewOne() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.two, in: folder)
        #expect(daemon.waitFor("not delivered to hook"), "log: \(daemon.log)")
        let renamed = configJSON(interval: "1h", rules: """
            [{"name": "old-rule", "match": {"status_in": ["received", "diagnostic"], "assigned": true},
              "repeat": {"every": "24h"}, "destinations": ["hook-new"]}]
            """).replacingOccurrences(of: "\"hook\": {", with: "\"hook-new\": {")
        _ = try folder.write("config.json", renamed)
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("2 queued notification(s) for destination hook, which is not in the config, are not tried; the next tick withdraws them"),
                "log: \(daemon.log)")
        #expect(daemon.waitFor("; 2 queued notification(s) withdrawn"), "log: \(daemon.log)")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0001 for hook-new (rule old-rule)"), "log: \(daemon.log)")
        #expect(daemon.waitFor("enqueued IGP-2026-0002 for hook-new (rule old-rule)"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        let queue = try runOverdued(["queue", "--config", folder.url("config.json")])
        #expect(!queue.stdout.contains("on hold"), "\(queue.stdout)")
    }

    /// The receiver is down (nothing listens on port 9) while the app closes a ticket: the
    /// next tick withdraws its queued notification, which then is never sent; the other
    /// ticket's stays queued.
    @Test func aNotificationWhoseTicketWasClosedWhileItWaitedIsWithdrawn() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.two, in: folder)
        #expect(daemon.waitFor("not delivered to hook"), "log: \(daemon.log)")
        try sqlite3(folder.url("tickets.sqlite"), "UPDATE tickets SET status = 'completed' WHERE id = 1")
        // A dry run beside the daemon says what a committing scan would withdraw; one at
        // another instant (--now) weighs nothing.
        let config = folder.url("config.json")
        let dry = try runOverdued(["scan", "--config", config, "--dry-run"])
        #expect(dry.stderr.contains("(IGP-2026-0001, rule old-rule, for hook): the rule no longer selects the ticket")
            && dry.stderr.contains("would withdraw msg_") && dry.stderr.contains("would withdraw 1 queued notifications"), "\(dry.stderr)")
        let elsewhen = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-01-01T00:00:00Z"])
        #expect(elsewhen.status == 0 && !elsewhen.stderr.contains("withdraw"), "\(elsewhen.stderr)")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("withdrew the notification of IGP-2026-0001 for hook (rule old-rule): the rule no longer selects the ticket; not sent unless already under way"),
                "log: \(daemon.log)")
        #expect(daemon.waitFor("; 1 queued notification(s) withdrawn"), "the tick's line counts it: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)

        let history = try runOverdued(["history", "--config", config, "--json"])
        let items = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]] ?? []
        let withdrawn = items.filter { $0["status"] as? String == "withdrawn" }
        #expect(withdrawn.map { $0["ticket_id"] as? String } == ["IGP-2026-0001"], "\(history.stdout)")
        #expect(withdrawn.first?["withdrawn_at"] is String)
        #expect((withdrawn.first?["last_error"] as? String)?.hasPrefix("withdrawn: rule old-rule no longer selected the ticket at ") == true)
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.stdout.hasPrefix("pending 0, retrying 1, dead 0, delivered 0, withdrawn 1"), "\(queue.stdout)")
        #expect(queue.stdout.contains("IGP-2026-0002") && !queue.stdout.contains("IGP-2026-0001"), "\(queue.stdout)")

        // `once` weighs the queue too, and its summary counts what it withdrew.
        try sqlite3(folder.url("tickets.sqlite"), "UPDATE tickets SET status = 'completed' WHERE id = 2")
        let once = try runOverdued(["once", "--config", config, "--max-wait", "0s"])
        #expect(once.stdout.contains("0 matches, 0 enqueued, 1 withdrawn; 0 delivered"), "\(once.stdout)\n\(once.stderr)")
    }

    @Test func aTicketsDatabaseReplacedByANewExportIsReadFromTheNextTick() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.one, in: folder)

        // A fresh export with one more overdue ticket, renamed over the file the daemon reads.
        try makeTicketsDatabase(at: folder.url("export.sqlite"), rows: Self.two)
        #expect(rename(folder.url("export.sqlite"), folder.url("tickets.sqlite")) == 0)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("was replaced by a new file; reading the new one"), "log: \(daemon.log)")
        #expect(daemon.waitFor("enqueued IGP-2026-0002"), "the new file's ticket is seen: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        let outbox = Outbox(database: try StateDatabase(path: folder.url("state.sqlite")))
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: [1, 2]).count == 2)
    }

    /// The app's migration adds `deleted_at` to the file the daemon reads (or `sqlite3
    /// .restore` of another export changes its tables in place): the columns are looked at
    /// again at the next tick, so a soft-deleted ticket is not notified; and when the column
    /// goes again, ticks go on without it instead of failing on "no such column".
    @Test func tablesChangedInPlaceAreLookedAtAgain() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: Self.one)
        try sqlite3(tickets, "ALTER TABLE tickets DROP COLUMN deleted_at;")
        let daemon = try DaemonChild(config: try folder.write("config.json", configJSON(interval: "1h")), environment: [:])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        #expect(daemon.waitFor("tick: 1 matches, 1 enqueued"), "log: \(daemon.log)")

        try sqlite3(tickets, """
            ALTER TABLE tickets ADD COLUMN deleted_at TEXT;
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date, deleted_at)
            VALUES (2, 'IGP-2026-0002', 'x', 'x', 1, 'received', 'high', 1, 1, '\(Self.overdue)', '2026-11-20 10:00:00'),
                   (3, 'IGP-2026-0003', 'x', 'x', 1, 'received', 'high', 1, 1, '\(Self.overdue)', NULL);
            """)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("had its schema changed by the app (a column, table or index added, dropped or renamed, or a VACUUM); reading it afresh"), "log: \(daemon.log)")
        #expect(daemon.waitFor("enqueued IGP-2026-0003"), "log: \(daemon.log)")
        #expect(daemon.waitFor("tick: 2 matches, 1 enqueued"), "the soft-deleted ticket 2 is not a match: \(daemon.log)")
        #expect(!daemon.log.contains("IGP-2026-0002"), "log: \(daemon.log)")

        try sqlite3(tickets, "ALTER TABLE tickets DROP COLUMN deleted_at;")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("tick: 3 matches, 1 enqueued"), "ticket 2 is no longer known deleted: \(daemon.log)")
        #expect(!daemon.log.contains("no such column") && !daemon.log.contains("tick skipped"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// A new file without a column that the queries read is refused like one without a table:
    /// the daemon says so and keeps reading the previous file, instead of failing every tick.
    @Test func aReplacementLackingAColumnIsRefusedAndThePreviousFileKept() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.one, in: folder)

        try makeTicketsDatabase(at: folder.url("export.sqlite"), rows: Self.two)
        try sqlite3(folder.url("export.sqlite"), "ALTER TABLE tickets DROP COLUMN priority;")
        #expect(rename(folder.url("export.sqlite"), folder.url("tickets.sqlite")) == 0)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("still reading the previous one"), "log: \(daemon.log)")
        let log = daemon.log
        #expect(log.contains("tickets.priority"))
        #expect(!log.contains("no such column"))
        #expect(!log.contains("tick skipped"), "the tick read the previous file")
        #expect(!log.contains("IGP-2026-0002"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// A reload that leaves the rules and the tickets database as they were (a secret rotated, a
    /// destination's timeout changed) keeps the rows the last tick read: the next tick decides
    /// again from them instead of reading every rule's rows anew (with many rules on a big
    /// database, minutes).
    @Test func aReloadThatKeepsTheRulesKeepsTheRowsRead() throws {
        let folder = try TemporaryDirectory()
        let daemon = try Self.daemon(on: Self.one, in: folder)
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        _ = try folder.write("config.json", configJSON(interval: "1h").replacingOccurrences(of: "\"timeout\": \"2s\"", with: "\"timeout\": \"3s\""))
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("changed destinations"), "log: \(daemon.log)")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("tick: ", count: 2), "log: \(daemon.log)")
        #expect(daemon.waitFor("1 of 1 rule queries reused"), "the tick after the reload read the rows again: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// `cp new.sqlite tickets.sqlite` rewrites the same file (same inode) behind SQLite's back.
    /// With two exports made by the same statements (same size, page count and change counter)
    /// SQLite's `data_version` does not move, yet the next tick must read the new content.
    @Test func aTicketsFileOverwrittenInPlaceIsReadAfresh() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let later = TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: "2999-11-20 08:00:00")
        let daemon = try Self.daemon(on: Self.one + [later], in: folder)
        try makeTicketsDatabase(at: folder.url("export.sqlite"), rows: Self.two)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("rule queries reused"), "a tick with nothing changed: \(daemon.log)")

        let inode = try FileManager.default.attributesOfItem(atPath: tickets)[.systemFileNumber] as? UInt64
        let copy = try Process.run(URL(fileURLWithPath: "/bin/cp"), arguments: [folder.url("export.sqlite"), tickets])
        copy.waitUntilExit()
        #expect(copy.terminationStatus == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: tickets)[.systemFileNumber] as? UInt64 == inode, "cp keeps the inode")

        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0002"), "the rewritten file's overdue ticket is notified: \(daemon.log)")
        #expect(daemon.log.contains("\(tickets) was overwritten in place"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// An app that opens and closes its WAL database for each change makes the daemon read it
    /// afresh at each tick after one: routine, said at info, not among the notices (the
    /// audit counted up to 288 a day).
    @Test func anAppOpeningAndClosingItsWALDatabaseIsReadAfreshAtInfo() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: Self.one)
        try sqlite3(tickets, "PRAGMA journal_mode = WAL;")
        #expect(!FileManager.default.fileExists(atPath: tickets + "-shm"), "the app's last connection closed it")
        let daemon = try DaemonChild(config: try folder.write("config.json", configJSON(interval: "1h")), environment: [:])
        #expect(daemon.waitFor("tick: "), "log: \(daemon.log)")
        try sqlite3(tickets, "UPDATE tickets SET title = 'Fuite' WHERE id = 1;")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("changed since it was read while the app had it closed (WAL); reading it afresh"), "log: \(daemon.log)")
        let line = daemon.log.split(separator: "\n").first { $0.contains("changed since it was read while the app had it closed") } ?? ""
        #expect(line.contains(" info overdued: "), "\(line)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// The app crashed, leaving its -wal and -shm, someone deleted both by hand, and the app,
    /// started again, made them anew and committed: the daemon's connection maps the deleted
    /// -shm and would never see a commit again. The next tick sees the new -shm, opens the
    /// file afresh (the old connection closed first) and finds the new overdue ticket.
    @Test func aTicketsDatabaseWhoseWALFilesWereDeletedAndMadeAnewIsReadAfresh() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: Self.one)
        try sqlite3(tickets, "PRAGMA journal_mode = WAL;")
        let crashed = try SQLiteShellSession(tickets, sql: "PRAGMA wal_autocheckpoint = 0; UPDATE tickets SET title = 'a' WHERE id = 1;")
        let daemon = try DaemonChild(config: try folder.write("config.json", configJSON(interval: "1h")), environment: [:])
        #expect(daemon.waitFor("enqueued IGP-2026-0001"), "log: \(daemon.log)")
        #expect(daemon.waitFor("tick: "), "log: \(daemon.log)")
        crashed.crash()
        #expect(unlink(tickets + "-wal") == 0 && unlink(tickets + "-shm") == 0)
        let app = try SQLiteShellSession(tickets, sql: """
            PRAGMA wal_autocheckpoint = 0;
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (3, 'IGP-2026-0003', 't', 'd', 1, 'received', 'high', 1, 1, '2020-01-01 08:00:00');
            """)
        defer { app.end() }
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("has a new -shm file beside it"), "log: \(daemon.log)")
        #expect(daemon.waitFor("enqueued IGP-2026-0003"), "the app's commit is seen: \(daemon.log)")
        // And the commits after it, through the new connection.
        try sqlite3(tickets, """
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (4, 'IGP-2026-0004', 't', 'd', 1, 'received', 'high', 1, 1, '2020-01-01 08:00:00');
            """)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0004"), "log: \(daemon.log)")
        #expect(!daemon.log.contains("tick skipped"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// A read that finds the tickets database damaged opens it afresh for the next tick (a
    /// connection whose view went stale reads a sound file as damaged, and does not heal by
    /// waiting): one warning a tick while it lasts, and the ticks read again once the file is
    /// sound. Damaged here for real, in place, pages 2 and on overwritten.
    @Test func aTickThatFindsTheTicketsDatabaseDamagedReopensIt() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let daemon = try Self.daemon(on: Self.one, in: folder)
        let sound = try Data(contentsOf: URL(fileURLWithPath: tickets))
        var damaged = sound
        let pageSize = Int(sound[16]) << 8 | Int(sound[17])
        for index in pageSize..<damaged.count { damaged[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        let handle = try #require(FileHandle(forWritingAtPath: tickets))
        try handle.write(contentsOf: damaged)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("retrying next tick through a new connection"), "log: \(daemon.log)")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("retrying next tick through a new connection", count: 2), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "tick skipped") == 2, "one warning a tick: \(daemon.log)")
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: sound)
        try handle.close()
        try sqlite3(tickets, """
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (3, 'IGP-2026-0003', 't', 'd', 1, 'received', 'high', 1, 1, '2020-01-01 08:00:00');
            """)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0003"), "read again once sound: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// Each delivery asks the daemon whether it still holds the delivery lock. Asked through a
    /// closure kept in a `Mutex`, that cost 64 bytes of heap and of stack per delivery, for
    /// good (swiftlang/swift#91348): the daemon died of a stack overflow after ~4,000
    /// deliveries with 256 KB stacks (~131,000 with 8 MB). 6,000 deliveries here, with 256 KB.
    @Test func manyDeliveriesNeedNoMoreStackThanFew() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(1_000))
        let received = Received()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { received.add($0.webhookID) }
        let port = try await sink.start()
        let rules = #"[{"name": "again", "match": {"status_in": ["received"]}, "repeat": {"every": "1s"}, "destinations": ["hook"]}]"#
        let config = try folder.write("config.json", configJSON(interval: "1s", rules: rules, destinationURL: "http://127.0.0.1:\(port)/hooks/t"))
        let daemon = try DaemonChild(config: config, environment: [:], stackKB: 256)
        // (About 40 s here; the deadline only bounds how long a failure takes to show.)
        let deadline = Date().addingTimeInterval(300)
        while received.all.count < 6_000, daemon.process.isRunning, Date() < deadline { usleep(100_000) }
        let count = received.all.count
        #expect(daemon.process.isRunning, "the daemon died after \(count) deliveries (status \(daemon.process.isRunning ? 0 : daemon.process.terminationStatus))")
        #expect(count >= 6_000, "\(count) delivered in 300 s")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        await sink.stop()
    }

    /// The file overwritten in place with something that is not a database: the reopen
    /// fails, and the old connection is closed. Deleted after that, it is warned about as
    /// gone (the ticks were skipped silently); a database put back is said to open again, not
    /// to be "there now" as if it had never been.
    @Test func aTicketsFileThatCouldNotBeReopenedIsThenWarnedAboutWhenGone() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let daemon = try Self.daemon(on: Self.one, in: folder)

        let handle = try #require(FileHandle(forWritingAtPath: tickets))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(repeating: 0x41, count: 8192))
        try handle.close()
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("but cannot be opened"), "\(daemon.log)")

        try FileManager.default.removeItem(atPath: tickets)
        for signal in 1...3 {
            daemon.signal(SIGUSR1)
            #expect(daemon.waitFor("SIGUSR1: checking now", count: signal + 1))
            usleep(300_000)
        }
        #expect(daemon.occurrences(of: "\(tickets) is gone") == 1, "one warning naming the path: \(daemon.log)")

        try makeTicketsDatabase(at: tickets, rows: Self.two)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0002"), "the new file is read: \(daemon.log)")
        #expect(daemon.log.contains("\(tickets) is there now; reading it"), "\(daemon.log)")

        // Overwritten again, then a database renamed over it: it was there all along.
        let again = try #require(FileHandle(forWritingAtPath: tickets))
        try again.truncate(atOffset: 0)
        try again.write(contentsOf: Data(repeating: 0x41, count: 8192))
        try again.close()
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("but cannot be opened", count: 2), "\(daemon.log)")
        try makeTicketsDatabase(at: folder.url("fresh.sqlite"), rows: Self.two)
        #expect(rename(folder.url("fresh.sqlite"), tickets) == 0)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("\(tickets) can be opened again; reading it"), "\(daemon.log)")
        #expect(daemon.occurrences(of: "\(tickets) is gone") == 1, "\(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// `rm tickets.sqlite` while the daemon runs: one warning naming the path, and no tick
    /// reads the deleted file; once a file is back at the path, it is read.
    @Test func aDeletedTicketsFileIsWarnedAboutOnceAndReadWhenBack() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let daemon = try Self.daemon(on: Self.one, in: folder)
        let ticks = daemon.occurrences(of: "tick: ")

        try FileManager.default.removeItem(atPath: tickets)
        for signal in 1...3 {
            daemon.signal(SIGUSR1)
            #expect(daemon.waitFor("SIGUSR1: checking now", count: signal))
            usleep(300_000)
        }
        #expect(daemon.occurrences(of: "\(tickets) is gone") == 1, "one warning naming the path, not one per tick: \(daemon.log)")
        #expect(daemon.occurrences(of: "tick: ") == ticks, "no tick read the deleted file: \(daemon.log)")

        try makeTicketsDatabase(at: tickets, rows: Self.two)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0002"), "the new file is read: \(daemon.log)")
        #expect(daemon.log.contains("\(tickets) is back; reading it again"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// A path that `stat` cannot look at (here a symbolic link to itself: "too many levels of
    /// symbolic links"; a folder no longer searchable does the same) says so, once: after a
    /// deletion the ticks stay skipped, never "is back" on the deleted file; otherwise they
    /// read the file opened before, with the warning that it may not be the one there now.
    @Test func aPathThatCannotBeExaminedIsWarnedAboutOnce() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        let daemon = try Self.daemon(on: Self.one, in: folder)
        func loopAtThePath() throws {
            try FileManager.default.createSymbolicLink(atPath: folder.url("loop"), withDestinationPath: "tickets.sqlite")
            #expect(rename(folder.url("loop"), tickets) == 0)
        }
        func checkTwice(from count: Int) {
            for signal in count...(count + 1) {
                daemon.signal(SIGUSR1)
                #expect(daemon.waitFor("SIGUSR1: checking now", count: signal))
                usleep(300_000)
            }
        }
        let ticks = daemon.occurrences(of: "tick: ")
        try loopAtThePath()
        checkTwice(from: 1)
        #expect(daemon.occurrences(of: "cannot be examined (stat: too many levels of symbolic links): ticks read the file opened before") == 1,
                "\(daemon.log)")
        #expect(daemon.occurrences(of: "tick: ") == ticks + 2, "read from the open file: \(daemon.log)")

        try FileManager.default.removeItem(atPath: tickets)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("\(tickets) is gone"), "\(daemon.log)")
        try loopAtThePath()
        let skipped = daemon.occurrences(of: "tick: ")
        checkTwice(from: 4)
        #expect(daemon.occurrences(of: "cannot be examined (stat: too many levels of symbolic links): ticks stay skipped") == 1, "\(daemon.log)")
        #expect(!daemon.log.contains("is back; reading"), "\(daemon.log)")
        #expect(daemon.occurrences(of: "tick: ") == skipped, "not read from the deleted file: \(daemon.log)")

        try FileManager.default.removeItem(atPath: tickets)
        try makeTicketsDatabase(at: tickets, rows: Self.two)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("enqueued IGP-2026-0002"), "the new file is read: \(daemon.log)")
        #expect(daemon.log.contains("\(tickets) can be examined again"), "\(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }
}

/// Running out of descriptors is a crash, not a failed request (libdispatch's worker monitor
/// kills the process with SIGILL when it cannot open `/proc/…/stat`): 4 destinations of
/// concurrency 4 crashed the daemon at 32 open files. A soft limit below the hard
/// one is raised to it at start (systemd gives 1,024 under 524,288), and a hard limit still
/// below what the config may use is warned about.
@Suite(.serialized) struct OpenFilesLimitTests {
    @Test func theSoftLimitIsRaisedToTheHardOneAndALowHardOneIsWarnedAbout() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1h"))

        let raised = try DaemonChild(config: config, environment: [:], openFiles: (soft: 40, hard: 4096))
        #expect(raised.waitFor(" started: "), "log: \(raised.log)")
        let limits = try String(contentsOfFile: "/proc/\(raised.pid)/limits", encoding: .utf8)
        let openFiles = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2).map(String.init)
        #expect(openFiles == ["4096", "4096"], "\(limits)")
        #expect(!raised.log.contains("open files limit"), "log: \(raised.log)")
        raised.signal(SIGTERM)
        #expect(raised.waitForExit(timeout: 10) == 0)

        let low = try DaemonChild(config: config, environment: [:], openFiles: (soft: 40, hard: 40))
        #expect(low.waitFor("the open files limit is 40 (hard limit 40), below the 68 this config may use (the destinations' concurrency (4)"), "log: \(low.log)")
        low.signal(SIGTERM)
        #expect(low.waitForExit(timeout: 10) == 0)
    }
}

/// A request that finds no file descriptor left for its socket is this process's shortage, not
/// the receiver's failure: counted as an attempt, it gave up healthy notifications (81 of 150
/// dead in 5 s with `ulimit -n 64` and a concurrency of 100). Each such request is left due and
/// its slot waits; every notification is delivered in one attempt, none is given up.
@Suite(.serialized) struct DescriptorShortageTests {
    /// Answers each request after a second, holding its connection meanwhile.
    static let slowReceiver = """
        def handle(c, head, body):
            time.sleep(1)
            c.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\nconnection: close\\r\\n\\r\\n")
            c.close()
        """

    @Test func requestsWithoutADescriptorAreNoAttemptsAndEveryNotificationIsDelivered() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(60))
        let receiver = try PythonReceiver(handler: Self.slowReceiver)
        let port = receiver.port
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token")
            .replacingOccurrences(of: "\"concurrency\": 4", with: "\"concurrency\": 60")
            .replacingOccurrences(of: "\"max_backoff\": \"200ms\"}", with: "\"max_backoff\": \"200ms\", \"max_attempts\": 1}"))
        // 40 descriptors in all, soft and hard: far fewer than 60 requests in flight need.
        let once = try runOverdued(["once", "--config", config, "--max-wait", "60s"], prefix: ["/usr/bin/prlimit", "--nofile=40:40"], timeout: 90)
        #expect(once.status == 0, "\(once.stderr)")
        #expect(once.stderr.components(separatedBy: "no file descriptor left for the request's socket").count - 1 == 1,
                "the shortage happened, and was said once: \(once.stderr)")
        let state = try sqlite3Output(folder.url("state.sqlite"), "SELECT status, count(*), max(attempts) FROM notification GROUP BY status")
        #expect(state == "delivered|60|1\n", "\(state)")
        #expect(try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM delivery_attempt") == "60\n")
    }
}

/// An earlier release's state database is upgraded before `READY=1`; the upgrade of a large
/// one takes minutes (17 s for 300,000 notifications, 171 s for 1.5 million, on a loaded
/// machine), and systemd killed it at its start timeout, rolled back, until the unit failed.
/// The daemon says what runs and asks for more time while it does.
struct UpgradeAtStartTests {
    /// A folder with no tickets, a config ticking hourly, and the state database `prepare`
    /// makes (its path given).
    private func folder(_ prepare: (String) throws -> Void) throws -> (TemporaryDirectory, config: String) {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        try prepare(folder.url("state.sqlite"))
        return (folder, config)
    }

    /// Starts the daemon until `READY=1`, stops it; what the service manager got, and its log.
    private func startAndStop(_ folder: TemporaryDirectory, config: String) throws -> (messages: [String], log: String) {
        let listener = try NotifyListener(path: folder.url("notify.sock"))
        let daemon = try DaemonChild(config: config, environment: ["NOTIFY_SOCKET": listener.path])
        var seen: [String] = []
        #expect(listener.waitFor(timeout: 20, seen: &seen) { $0.contains("READY=1") } != nil, "got \(seen); log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        return (seen, daemon.log)
    }

    @Test func systemdIsToldOfTheUpgradeAndAskedToWait() throws {
        let (folder, config) = try folder { try StateDatabase.createAsEarlierRelease(path: $0, upTo: "v6: every scheduled date notified") }
        let (seen, log) = try startAndStop(folder, config: config)
        let ready = try #require(seen.firstIndex { $0.contains("READY=1") })
        let status = seen.firstIndex { $0 == "STATUS=upgrading the state database (6 migration(s))" }
        let extend = seen.firstIndex { $0 == "EXTEND_TIMEOUT_USEC=30000000" }
        #expect(status.map { $0 < ready } == true && extend.map { $0 < ready } == true, "\(seen)")
        #expect(log.contains("upgrading the state database \(folder.url("state.sqlite")), written by an earlier release (v7: withdrawn notifications, "),
                "log: \(log)")
        #expect(log.contains("upgraded the state database"), "log: \(log)")
    }

    /// `check-config`, the step before the restart, says what the restart will do to the file
    /// (and does none of it); nothing for a current file.
    @Test func checkConfigSaysTheNextStartUpgradesTheFile() throws {
        let (folder, config) = try folder { try StateDatabase.createAsEarlierRelease(path: $0, upTo: "v6: every scheduled date notified") }
        let check = try runOverdued(["check-config", "--config", config])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("  state database:   \(folder.url("state.sqlite")) (written by an earlier release: the next start upgrades it, 6 migration(s) from \"v7: withdrawn notifications\"; "),
                "\(check.stdout)")
        #expect(try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM grdb_migrations") == "6\n", "upgraded nothing")
        _ = try StateDatabase(path: folder.url("state.sqlite"))
        let again = try runOverdued(["check-config", "--config", config])
        #expect(again.stdout.contains("  state database:   \(folder.url("state.sqlite"))\n"), "\(again.stdout)")
    }

    /// A current file is no upgrade: nothing is said.
    @Test func aCurrentFileIsNoUpgrade() throws {
        let (folder, config) = try folder { _ = try StateDatabase(path: $0) }
        let (seen, log) = try startAndStop(folder, config: config)
        #expect(!seen.contains { $0.hasPrefix("STATUS=upgrading") || $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }, "\(seen)")
        #expect(!log.contains("upgrading the state database"), "log: \(log)")
    }
}
