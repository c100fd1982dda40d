import Foundation
import Notifier
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A crash at any instant loses nothing: `overdued run` is killed with SIGKILL in the middle
/// of a burst, restarted, and the receiver ends up with every expected notification id; any
/// repeat carries an id it had already seen (never a second id for one notification).
@Suite(.serialized) struct CrashRecoveryTests {
    @Test func sigkillMidBurstLosesNothingAndNeverInventsAnId() async throws {
        let folder = try TemporaryDirectory()
        let count = 120
        let rows = (1...count).map { TicketRow(id: Int64($0), ticketID: String(format: "IGP-2026-%04d", $0), scheduledDate: "2026-11-01 08:00:00") }
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: rows)
        let received = Received()
        // The kill is fired by the receiver itself, at the Nth arrival, not by this test's task:
        // on a loaded machine the task can wake too late, after the whole burst.
        let killSwitch = KillSwitch()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { delivery in
            received.add(delivery.webhookID)
            killSwitch.arrived(total: received.all.count)
        }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        // 50 ms between requests: the burst takes ~6 s.
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hook")
            .replacingOccurrences(of: "\"min_interval\": \"0ms\", \"concurrency\": 4", with: "\"min_interval\": \"50ms\", \"concurrency\": 1"))

        var kills = 0
        for round in 0..<4 where Set(received.all).count < count - 10 {
            let daemon = try DaemonChild(config: config, environment: [:])
            // Killed at a different arrival each round, after some deliveries have happened.
            killSwitch.arm(pid: daemon.pid, atArrival: received.all.count + 3 + round * 5)
            let deadline = Date().addingTimeInterval(30)
            while !killSwitch.fired, Set(received.all).count < count, Date() < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            if killSwitch.fired {
                _ = daemon.waitForExit(timeout: 5)
                kills += 1
            } else {
                killSwitch.disarm()
                daemon.signal(SIGTERM)
                #expect(daemon.waitForExit(timeout: 10) == 0)
                break
            }
        }
        #expect(kills >= 1, "the test must kill at least once mid-burst")
        // A last run drains whatever is left: also what the receiver saw but a killed daemon
        // had not recorded yet, which goes again (same id); it is stopped once all is recorded.
        let final = try DaemonChild(config: config, environment: [:])
        let deadline = Date().addingTimeInterval(120)
        func delivered() throws -> Int {
            Int(try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM notification WHERE status = 'delivered'")
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        while try Set(received.all).count < count || !final.log.contains("event=start") || delivered() < count, Date() < deadline {
            try await Task.sleep(for: .milliseconds(250))
        }
        final.signal(SIGTERM)
        #expect(final.waitForExit(timeout: 10) == 0)

        let ids = received.all
        let unique = Set(ids)
        #expect(unique.count == count, "every ticket notified exactly under one id; got \(unique.count) of \(count)")
        let history = try runOverdued(["history", "--config", config, "--json", "--limit", "1000"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])
        let recorded = Set(items.compactMap { $0["id"] as? String })
        #expect(recorded == unique, "each id the receiver saw is one the outbox created, and all are recorded as delivered")
        #expect(items.allSatisfy { $0["status"] as? String == "delivered" })
    }
}

/// Sends SIGKILL to a daemon when the receiver's arrivals reach a number, from the receiver's
/// own thread.
final class KillSwitch: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var target = 0
    private var hasFired = false

    func arm(pid: pid_t, atArrival target: Int) {
        lock.lock(); defer { lock.unlock() }
        (self.pid, self.target, hasFired) = (pid, target, false)
    }

    func disarm() {
        lock.lock(); defer { lock.unlock() }
        pid = nil
    }

    func arrived(total: Int) {
        lock.lock(); defer { lock.unlock() }
        guard let pid, !hasFired, total >= target else { return }
        kill(pid, SIGKILL)
        hasFired = true
        self.pid = nil
    }

    var fired: Bool {
        lock.lock(); defer { lock.unlock() }
        return hasFired
    }
}

/// An attempt whose process ends before its answer is recorded counts as a failed attempt at
/// the next start; three in a row give the notification up. (A receiver's answer that crashes
/// overdued, inside its HTTP client, used to be sent again at every restart, for ever, and
/// stopped every other delivery with it.) Here the process is killed while the receiver
/// holds the request, three times.
@Suite(.serialized) struct InterruptedAttemptProcessTests {
    /// A receiver that reads each request and never answers; it prints `REQ <webhook-id>` for
    /// each request.
    static let holdingReceiver = """
        held = []
        def handle(c, head, body):
            ids = [l.split(":", 1)[1].strip() for l in head.split("\\r\\n") if l.lower().startswith("webhook-id:")]
            print("REQ", ids[0] if ids else "-", flush=True)
            held.append(c)
        """

    @Test func threeAttemptsCutByTheEndOfTheProcessGiveTheNotificationUp() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(1))
        let receiver = try PythonReceiver(handler: Self.holdingReceiver)
        func received() -> [String] { receiver.received() }
        func waitFor(_ count: Int, prefix: String) -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while received().filter({ $0.hasPrefix(prefix) }).count < count, Date() < deadline { usleep(10_000) }
            return received().filter { $0.hasPrefix(prefix) }.count >= count
        }
        let port = receiver.port
        let config = try folder.write("config.json", configJSON(interval: "1h", destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token"))

        for round in 1...3 {
            let once = Process()
            once.executableURL = Binary.url
            // At the machine's clock (the rows are overdue since 2026-11-20): an earlier --now would
            // date the notification days back, past retry.give_up_after.
            once.arguments = ["once", "--config", config, "--max-wait", "20s"]
            once.standardOutput = FileHandle.nullDevice
            once.standardError = FileHandle.nullDevice
            try once.run()
            let arrived = waitFor(round, prefix: "REQ ")
            kill(once.processIdentifier, SIGKILL)
            once.waitUntilExit()
            try #require(arrived, "round \(round): no request reached the receiver: \(received())")
        }
        let ids = Set(received().filter { $0.hasPrefix("REQ ") })
        #expect(ids.count == 1, "the same notification, under the same webhook-id, each time: \(received())")

        let last = try runOverdued(["once", "--config", config, "--max-wait", "5s"])
        #expect(last.stderr.contains("overdued ended during 3 attempts of it in a row"), "\(last.stderr)")
        #expect(received().filter { $0.hasPrefix("REQ ") }.count == 3, "given up, not sent a fourth time: \(received())")
        let state = try sqlite3Output(folder.url("state.sqlite"), "SELECT status, attempts FROM notification")
        #expect(state.trimmingCharacters(in: .whitespacesAndNewlines) == "dead|3", "\(state)")
        let attempts = try sqlite3Output(folder.url("state.sqlite"), "SELECT attempt, outcome, error LIKE 'no answer recorded: overdued ended during this attempt%' FROM delivery_attempt ORDER BY attempt")
        #expect(attempts == "1|retry|1\n2|retry|1\n3|dead|1\n", "\(attempts)")
        // Its destination's other notifications would crash it three times each: it waits an
        // hour (systemd would stop restarting the service after 5 starts in 2 minutes).
        let pause = try sqlite3Output(folder.url("state.sqlite"), "SELECT http_status, (until_at - set_at) / 1000 FROM receiver_pause")
        #expect(pause == "0|3600\n", "\(pause)")
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.stdout.contains("paused by overdued until ") && queue.stdout.contains("(its answers crashed overdued 3 attempts in a row at "),
                "\(queue.stdout)")
        // Requeued by the operator, it waits for the pause: `once` says why, as overdued's wait.
        let id = try sqlite3Output(folder.url("state.sqlite"), "SELECT id FROM notification").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try runOverdued(["queue", "retry", id, "--force", "--config", config]).status == 0)
        let held = try runOverdued(["once", "--config", config, "--max-wait", "1s"])
        #expect(held.stderr.contains("; hook waits past the end of this run because its answers crashed overdued (`overdued queue` says until when"),
                "\(held.stderr)")
        #expect(!held.stderr.contains("asked to wait"), "\(held.stderr)")
        #expect(received().filter { $0.hasPrefix("REQ ") }.count == 3, "sent during the pause: \(received())")
        let resumed = try runOverdued(["queue", "resume", "hook", "--config", config])
        #expect(resumed.status == 0 && resumed.stdout.hasPrefix("hook: the wait after its answers crashed overdued (until "), "\(resumed.stdout) \(resumed.stderr)")
        #expect(try sqlite3Output(folder.url("state.sqlite"), "SELECT count(*) FROM receiver_pause") == "0\n")
    }
}
