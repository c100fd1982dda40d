import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `log.target: "journal"` where journald has no socket (a container, a machine without
/// systemd): records sent natively would vanish, so the daemon logs to stderr and says why.
@Suite(.serialized) struct JournalFallbackTests {
    static let noJournalHere = !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket")

    @Test(.enabled(if: noJournalHere, "this machine has a journal socket: the fallback cannot be observed"))
    func withoutAJournalSocketTheDaemonLogsToStderrAndSaysWhy() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1h")
            .replacingOccurrences(of: "\"target\": \"stderr\"", with: "\"target\": \"journal\""))
        let daemon = try DaemonChild(config: config, environment: [:])
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("event=tick"), Date() < deadline { usleep(20_000) }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        let log = daemon.log
        #expect(log.contains("event=start") && log.contains("event=tick") && log.contains("event=stop"), "log: \(log)")
        let warnings = log.split(separator: "\n").filter { $0.contains("no journal socket at /run/systemd/journal/socket") }
        #expect(warnings.count == 1, "log: \(log)")
        #expect(warnings.first?.contains("log.target is \"journal\"") == true, "log: \(log)")
    }
}
