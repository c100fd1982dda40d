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
