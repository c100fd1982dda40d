import Foundation
import Testing
import TestSupport

/// `store.timezone` is read with the system's zone files (`$TZDIR`, else /usr/share/zoneinfo),
/// not with the data built into overdued: a folder of zone files standing in for the system's
/// gives "America/Toronto" the rules of another place, and overdued follows them.
@Suite(.serialized) struct ZoneRulesProcessTests {
    /// Puts the system's file of `place` at `zone` in `folder` (a zone folder of its own).
    static func install(_ place: String, as zone: String, in folder: String) throws {
        let target = folder + "/" + zone
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let staged = target + ".new"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: "/usr/share/zoneinfo/" + place, toPath: staged)
        #expect(rename(staged, target) == 0)
    }

    @Test func aScanReadsNaiveDatesWithTheSystemsZoneFile() throws {
        let folder = try TemporaryDirectory()
        let zones = folder.url("zoneinfo")
        try Self.install("Asia/Tokyo", as: "America/Toronto", in: zones)
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [TicketRow(id: 1, ticketID: "IGP-1", scheduledDate: "2026-11-24 09:00:00")])
        let config = try folder.write("config.json", configJSON())
        let scan = try runOverdued(["scan", "--dry-run", "--json", "--config", config, "--now", "2026-11-25T00:00:00Z"],
                                   environment: ["TZDIR": zones])
        #expect(scan.status == 0, "\(scan.stderr)")
        // 09:00 at +9 (Tokyo's rules under Toronto's name), not 14:00Z (Toronto's own).
        #expect(scan.stdout.contains("\"due_at\" : \"2026-11-24T00:00:00.000Z\""), "\(scan.stdout)")
        let check = try runOverdued(["check-config", "--config", config], environment: ["TZDIR": zones])
        #expect(check.stdout.contains("zone America/Toronto, rules from \(zones)/America/Toronto"), "\(check.stdout)")
        #expect(!check.stderr.contains("store.timezone"), "\(check.stderr)")

        // No file for the zone: the built-in data, with a warning that says why.
        let empty = folder.url("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let builtIn = try runOverdued(["check-config", "--config", config], environment: ["TZDIR": empty])
        #expect(builtIn.status == 0 && builtIn.stderr.contains("warning: store.timezone: the system has no \(empty)/America/Toronto"),
                "\(builtIn.stdout) \(builtIn.stderr)")
        let builtInScan = try runOverdued(["scan", "--dry-run", "--json", "--config", config, "--now", "2026-11-25T00:00:00Z"],
                                          environment: ["TZDIR": empty])
        #expect(builtInScan.stdout.contains("\"due_at\" : \"2026-11-24T14:00:00.000Z\""), "\(builtInScan.stdout)")
    }

    /// A `tzdata` upgrade rewrites the zone's file under the running daemon: the next tick
    /// reads with the new rules, without a reload.
    @Test func theDaemonFollowsAZoneFileRewrittenUnderIt() throws {
        let folder = try TemporaryDirectory()
        let zones = folder.url("zoneinfo")
        // At first the rules of Bogota (-5, no daylight time): a naive date five hours ahead of
        // UTC's wall time is due in ten hours. Then Tokyo's (+9): it was due four hours ago.
        try Self.install("America/Bogota", as: "America/Toronto", in: zones)
        let wall = Date().addingTimeInterval(5 * 3600)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [TicketRow(id: 1, ticketID: "IGP-1", scheduledDate: formatter.string(from: wall))])
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let daemon = try DaemonChild(config: config, environment: ["TZDIR": zones])
        defer {
            daemon.signal(SIGTERM)
            _ = daemon.waitForExit(timeout: 20)
        }
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        #expect(!daemon.log.contains("event=enqueue"), "not overdue under the first rules; log: \(daemon.log)")

        try Self.install("Asia/Tokyo", as: "America/Toronto", in: zones)
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("event=tick", count: 2), "log: \(daemon.log)")
        #expect(daemon.log.contains("the rules of time zone America/Toronto changed on disk"), "log: \(daemon.log)")
        #expect(daemon.waitFor("event=enqueue"), "overdue under the new rules; log: \(daemon.log)")
    }
}
