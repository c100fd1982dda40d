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

    /// A config that cannot be loaded when the daemon starts under systemd: one critical
    /// record with EVENT=stop, as for any other reason it cannot start (it was a line of plain
    /// text per problem, at the journal's default priority). Without a journal socket here, the
    /// record comes on stderr, in its human form.
    @Test(.enabled(if: noJournalHere, "this machine has a journal socket: the record goes there"))
    func aBrokenConfigAtStartIsOneCriticalRecord() throws {
        let folder = try TemporaryDirectory()
        let config = try folder.write("config.json", configJSON().replacingOccurrences(of: "\"1s\"", with: "\"5 minutes\""))
        // stderr is the journal: JOURNAL_STREAM names it, as systemd sets it.
        let result = try runOverdued(["run", "--config", config],
                                     prefix: ["/bin/sh", "-c", "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\""])
        #expect(result.status == 1)
        let records = result.stderr.split(separator: "\n").filter { $0.contains("cannot start:") }
        #expect(records.count == 1, "\(result.stderr)")
        #expect(records.first.map { $0.contains("critical") && $0.contains("problems") && $0.contains("event=stop") } == true, "\(result.stderr)")
    }
}
