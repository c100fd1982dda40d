import Foundation
import Notifier
import Synchronization
import Testing
import TestSupport

/// `overdued scan --dry-run --json --now` selects exactly what the old automation's rule
/// selected: assigned (0 = the whole team counts), status received/diagnostic, a readable
/// scheduled date before now (naive dates in America/Toronto), not soft-deleted.
@Suite struct ScanCommandTests {
    static let rows: [TicketRow] = [
        TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 2, ticketID: "IGP-2026-0002", status: "diagnostic", assignedTo: 0, scheduledDate: "2026-11-24 09:59:00"),
        TicketRow(id: 3, ticketID: "IGP-2026-0003", scheduledDate: "2026-11-24 10:01:00"),
        TicketRow(id: 4, ticketID: "IGP-2026-0004", assignedTo: nil, scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 5, ticketID: "IGP-2026-0005", status: "in_progress", scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 6, ticketID: "IGP-2026-0006", scheduledDate: "2026-11-20 08:00:00", deletedAt: "2026-11-21 10:00:00"),
        TicketRow(id: 7, ticketID: "IGP-2026-0007", scheduledDate: nil),
        TicketRow(id: 8, ticketID: "IGP-2026-0008", scheduledDate: ""),
        TicketRow(id: 9, ticketID: "IGP-2026-0009", scheduledDate: "null"),
        TicketRow(id: 10, ticketID: "IGP-2026-0010", scheduledDate: "demain"),
        TicketRow(id: 11, ticketID: "IGP-2026-0011", scheduledDate: "2026-11-23"),
        TicketRow(id: 12, ticketID: "IGP-2026-0012", status: "diagnostic", scheduledDate: "2026-11-24T14:00:00Z"),
        TicketRow(id: 13, ticketID: "IGP-2026-0013", scheduledDate: "2026-11-24T16:00:00.000Z"),
        TicketRow(id: 14, ticketID: "IGP-2026-0014", status: "private", scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 15, ticketID: "IGP-2026-0015", status: "completed", scheduledDate: "2026-11-20 08:00:00"),
        TicketRow(id: 16, ticketID: "IGP-PRESSE-PH 450-20251230-016", scheduledDate: "2025-12-31 23:59:59"),
        TicketRow(id: 17, ticketID: "IGP-2026-0017", scheduledDate: "24/11/2026"),
        TicketRow(id: 18, ticketID: "IGP-2026-0018", scheduledDate: "2026-11-24 23:59:59"),
    ]

    @Test func dryRunJSONListsExactlyWhatTheOldRuleSelects() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let result = try runOverdued(["scan", "--config", config, "--dry-run", "--json", "--now", "2026-11-24T15:00:00Z"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let tickets = items.compactMap { $0["ticket"] as? Int }.sorted()
        #expect(tickets == [1, 2, 11, 12, 16])
        for item in items {
            #expect(item["rule"] as? String == "old-rule")
            #expect(item["action"] as? String == "enqueue")
            #expect(item["reason"] as? String == "")
            #expect(item["destinations"] as? [String] == ["hook"])
            #expect((item["overdue_seconds"] as? Int ?? 0) > 0)
        }
        let two = try #require(items.first { $0["ticket"] as? Int == 2 })
        #expect(two["ticket_id"] as? String == "IGP-2026-0002")
        #expect(two["scheduled_date"] as? String == "2026-11-24 09:59:00")
        #expect(two["overdue_seconds"] as? Int == 60, "09:59 EST is 14:59Z, one minute before now")
        // One warning per unreadable row, naming the ticket; none for absent dates.
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 2, "stderr: \(result.stderr)")
        #expect(warnings.contains { $0.contains("ticket 10 (IGP-2026-0010)") && $0.contains("demain") })
        #expect(warnings.contains { $0.contains("ticket 17 (IGP-2026-0017)") })
        // The summary is on stderr with --json too, the skipped rows counted.
        #expect(result.stderr.hasSuffix("5 matches, would enqueue 5 notifications, 0 suppressed, 2 rows skipped\n"), "stderr: \(result.stderr)")
    }

    /// A dry run writes nothing: with no state database yet it decides against an empty one
    /// of its own and creates none at the configured path (it created and migrated one).
    @Test func aDryRunCreatesNoStateDatabase() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let result = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:00Z"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("would enqueue 5 notifications"), "\(result.stderr)")
        #expect(result.stderr.contains("no state database yet at \(folder.url("state.sqlite"))"), "\(result.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == ["config.json", "tickets.sqlite"], "\(left)")

        // An empty file at the path (or another program's database) is no state database
        // either: it stays as it was.
        #expect(FileManager.default.createFile(atPath: folder.url("state.sqlite"), contents: Data()))
        let onEmpty = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:00Z"])
        #expect(onEmpty.status == 0, "stderr: \(onEmpty.stderr)")
        #expect(onEmpty.stderr.contains("holds no state of overdued's"), "\(onEmpty.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: folder.url("state.sqlite"))[.size] as? Int == 0)
    }

    /// An earlier release's state database (here one without migration v9): a dry run decides
    /// on an upgraded copy, with its dedup state, and leaves the file as it was (upgraded, the
    /// earlier release could not open it again). A scratch folder a killed dry run left behind
    /// is removed by the next.
    @Test func aDryRunDecidesOnACopyOfAnEarlierReleasesStateDatabase() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        #expect(try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"]).status == 0)
        let state = folder.url("state.sqlite")
        // Back to what v8 made: v9's record of it and its columns go (a copy without them).
        try sqlite3(state, """
            DELETE FROM grdb_migrations WHERE identifier LIKE 'v9:%';
            ALTER TABLE dedup_state DROP COLUMN past_notified_at; ALTER TABLE dedup_state DROP COLUMN past_scheduled_date;
            ALTER TABLE dedup_state DROP COLUMN past_assigned_to; ALTER TABLE dedup_state DROP COLUMN past_status;
            ALTER TABLE dedup_state DROP COLUMN past_priority; ALTER TABLE dedup_state DROP COLUMN past_source;
            ALTER TABLE dedup_scheduled_date DROP COLUMN past_notified_at;
            """)
        let leftover = NSTemporaryDirectory() + "/overdued-dry-run-999999-left"
        try FileManager.default.createDirectory(atPath: leftover, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Not a dead run's own folder: one anyone could have written into, a link, and (as
        // root) another user's. None is swept, nor what the link points to.
        let kept = try TemporaryDirectory()
        let target = try kept.write("precious", "keep me")
        let planted = [("-open", 0o777), ("-link", nil), ("-other", 0o700)].map { suffix, mode in
            (NSTemporaryDirectory() + "/overdued-dry-run-999998" + suffix, mode)
        }
        defer { for (path, _) in planted { try? FileManager.default.removeItem(atPath: path) } }
        for (path, mode) in planted {
            if let mode {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            } else {
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: kept.path)
            }
        }
        if geteuid() == 0 { #expect(chown(planted[2].0, 65_534, 65_534) == 0) }
        let dry = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:00Z"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stderr.contains("is an earlier release's (it lacks v9: notifications known without a row): deciding on an upgraded copy"), "\(dry.stderr)")
        #expect(dry.stderr.contains("would enqueue 0 notifications, 5 suppressed"), "its dedup state counts: \(dry.stderr)")
        let migrations = try sqlite3Output(state, "SELECT count(*) FROM grdb_migrations WHERE identifier LIKE 'v9:%'")
        #expect(migrations.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the file is not upgraded")
        #expect(!FileManager.default.fileExists(atPath: leftover), "a dead run's scratch folder is removed")
        #expect(FileManager.default.fileExists(atPath: target), "a link's target is left alone")
        for (path, _) in planted where geteuid() == 0 || !path.hasSuffix("-other") {
            #expect((try? FileManager.default.attributesOfItem(atPath: path)) != nil, "\(path) is not this user's leftover")
        }
    }

    @Test func scanWithoutDryRunEnqueuesOnceThenSuppressesWithAReason() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let first = try runOverdued(["scan", "--config", config, "--json", "--now", "2026-11-24T15:00:00Z"])
        #expect(first.status == 0, "stderr: \(first.stderr)")
        // 30 s later: still before ticket 3's 10:01 (15:01Z), so the same five, all suppressed.
        let later = try runOverdued(["scan", "--config", config, "--json", "--now", "2026-11-24T15:00:30Z"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(later.stdout.utf8)) as? [[String: Any]])
        #expect(items.count == 5)
        for item in items {
            #expect(item["action"] as? String == "suppressed")
            #expect((item["reason"] as? String ?? "").contains("repeat.every"))
        }
        let queue = try runOverdued(["queue", "--config", config, "--json"])
        let queued = try #require(try JSONSerialization.jsonObject(with: Data(queue.stdout.utf8)) as? [[String: Any]])
        #expect(queued.count == 5)
        #expect(!queue.stdout.contains("secret-token"))
    }

    /// The plain-text listing: one line per match, in ticket order, each saying what happened
    /// and why; the summary goes to stderr.
    @Test func textListingHasOneLinePerMatch() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let first = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(first.status == 0, "stderr: \(first.stderr)")
        let lines = first.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 6 && lines.last == "", "five lines, each ending in a newline: \(first.stdout)")
        #expect(lines[1] == "enqueue     old-rule  IGP-2026-0002 (#2)  scheduled 2026-11-24 09:59:00  overdue 1m  → hook")
        #expect(lines.dropLast().map { $0.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true)[2] }
                == ["IGP-2026-0001", "IGP-2026-0002", "IGP-2026-0011", "IGP-2026-0012", "IGP-PRESSE-PH"])
        #expect(first.stderr.contains("5 matches, enqueued 5 notifications, 0 suppressed"))

        let again = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:30Z"])
        let suppressed = again.stdout.split(separator: "\n")
        #expect(suppressed.count == 5)
        #expect(suppressed.allSatisfy { $0.hasPrefix("suppressed  old-rule  ") && $0.hasSuffix(")") && $0.contains("repeat.every") },
                "\(again.stdout)")
    }

    /// `once` logs what it reads and enqueues as a daemon tick does: each bad row with the
    /// ticket's ids, each notification enqueued, each delivery.
    @Test func onceLogsBadRowsEnqueuesAndDeliveriesWithTheirFields() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { _ in }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let config = try folder.write("config.json", configJSON(destinationURL: "http://127.0.0.1:\(port)/hooks/t"))
        let result = try runOverdued(["once", "--config", config, "--now", "2026-11-24T15:00:00Z", "--max-wait", "10s"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("event=enqueue") && $0.contains("notification_id=") && $0.contains("ticket_id=") }.count == 5,
                "\(result.stderr)")
        #expect(lines.filter { $0.contains("event=delivered") && !$0.contains("recorded=") }.count == 5, "\(result.stderr)")
        #expect(lines.contains { $0.contains("event=bad_row") && $0.contains("ticket=10") && $0.contains("ticket_id=IGP-2026-0010") },
                "\(result.stderr)")
    }

    /// Notifications given up during the run (a 401: dead at once) are neither delivered nor
    /// waiting for a retry: `once` exits 2, so a cron job hears of them, and says how many.
    @Test func onceExitsTwoWhenNotificationsWereGivenUp() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        // The sink expects signed requests; this config signs nothing: each is answered 401.
        let secret = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0, signingSecret: secret) { _ in }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let config = try folder.write("config.json", configJSON(destinationURL: "http://127.0.0.1:\(port)/hooks/t"))
        let result = try runOverdued(["once", "--config", config, "--now", "2026-11-24T15:00:00Z", "--max-wait", "10s"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.contains("0 delivered, 5 dead, 0 still queued"), "\(result.stdout)")
        #expect(result.stderr.contains("5 notification(s) were given up (dead) by this run"), "\(result.stderr)")
        // Nothing new the next time: dead stays dead until retried by hand, and the exit is 0.
        let again = try runOverdued(["once", "--config", config, "--now", "2026-11-24T15:01:00Z", "--max-wait", "2s"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    /// A tick that enqueues many notifications logs the first 200 one by one and counts the
    /// rest in one record, instead of a record per ticket (journald would drop most of them).
    @Test func aLargeEnqueueIsLoggedOneByOneOnlyAtFirst() throws {
        let folder = try TemporaryDirectory()
        let demo = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "40000", "--sink", "127.0.0.1:9"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let result = try runOverdued(["once", "--config", folder.url("demo/config.json"), "--max-wait", "1s"])
        let lines = result.stderr.split(separator: "\n")
        let one = lines.filter { $0.contains("event=enqueue") && $0.contains("notification_id=") }
        let rest = lines.filter { $0.contains("event=enqueue") && $0.contains("more notifications enqueued by this tick") }
        #expect(one.count == 200, "\(one.count) one-by-one records")
        let enqueued = try #require(result.stdout.split(separator: " ").dropFirst(2).first.flatMap { Int($0) }, "\(result.stdout)")
        #expect(enqueued > 200)
        #expect(rest.count == 1 && rest.first?.contains("count=\(enqueued - 200)") == true, "\(rest)")
    }

    /// Three `scan`s started together on a new state database (as an operator's scan can meet
    /// the daemon's tick): each ticket is queued once, and none of them fails while another
    /// creates the database's tables.
    @Test func concurrentScansQueueEachTicketOnce() throws {
        let folder = try TemporaryDirectory()
        let demo = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "20000", "--sink", "127.0.0.1:9"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let config = folder.url("demo/config.json"), state = folder.url("demo/state.sqlite")
        for _ in 1...3 {
            for suffix in ["", "-wal", "-shm"] { unlink(state + suffix) }
            // Three processes at once, each waited for on a thread of its own (a thread pool
            // would run as many at once as there are cores: two on a 2-core machine).
            final class Results: Sendable { let list = Mutex<[CommandResult]>([]) }
            let results = Results()
            let finished = DispatchGroup()
            for _ in 1...3 {
                finished.enter()
                Thread {
                    let result = try? runOverdued(["scan", "--config", config])
                    results.list.withLock { if let result { $0.append(result) } }
                    finished.leave()
                }.start()
            }
            finished.wait()
            let all = results.list.withLock { $0 }
            #expect(all.count == 3)
            for result in all {
                #expect(result.status == 0, "\(result.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning") })")
            }
            let counts = try sqlite3Output(state, "SELECT count(*), count(DISTINCT rule || '|' || ticket || '|' || destination) FROM notification")
            let numbers = counts.split(separator: "|").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(numbers.count == 2 && numbers[0] == numbers[1] && (numbers[0] ?? 0) > 100, "notifications, distinct: \(counts)")
        }
    }

    /// Enqueueing at a `--now` ahead of the clock would date the notifications and dedup
    /// records then, holding back the real ones: refused; looking ahead with --dry-run is fine.
    @Test func aFutureNowIsForLookingAheadOnly() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let ahead = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400 * 365))
        for command in [["scan"], ["once", "--max-wait", "1s"]] {
            let result = try runOverdued(command + ["--config", config, "--now", ahead])
            #expect(result.status == 1, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("is later than this machine's clock"), "\(command): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.url("state.sqlite")), "nothing was enqueued")
        let look = try runOverdued(["scan", "--config", config, "--dry-run", "--now", ahead])
        #expect(look.status == 0, "\(look.stderr)")
    }

    /// `scan` (or `once`) from cron, one day at 14:05:01, the next at 14:04:59 (cron starts a
    /// job within a second or two of its minute, earlier or later): the second run repeats
    /// `every: "24h"`. Each is evaluated at the nearest slot of the schedule (14:05:00); at the
    /// raw instants the day was 2 s short, and the repeat waited for the next run. The
    /// machine's clock is set for the process by `faketime` (Debian's package, which `make
    /// test` installs; `once`, whose HTTP client waits on timers, does not finish under it).
    @Test func aCronRunASecondEarlierThanYesterdaysRepeatsADailyRule() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(1))
        let config = try folder.write("config.json", configJSON(interval: "5m").replacingOccurrences(of: #""align": false"#, with: #""align": true"#))
        let faketime = "/usr/bin/faketime"
        try #require(FileManager.default.isExecutableFile(atPath: faketime), "faketime is missing: `make test` installs it")
        func scan(at instant: String) throws -> String {
            let result = try runOverdued(["scan", "--config", config], environment: ["TZ": "UTC"], prefix: [faketime, "-f", "@" + instant],
                                         timeout: 20)
            #expect(result.status == 0, "\(result.stderr)")
            // As if the receiver had taken it (a queued one holds back a repeat of its ticket).
            _ = try sqlite3Output(folder.url("state.sqlite"), "UPDATE notification SET status = 'delivered', delivered_at = created_at")
            return String(result.stdout.prefix { $0 != " " })
        }
        #expect(try scan(at: "2026-11-27 14:05:01") == "enqueue")
        let record = try sqlite3Output(folder.url("state.sqlite"), "SELECT last_notified_at FROM dedup_state")
        #expect(record == "1795788300000\n", "dated at the slot, 2026-11-27T14:05:00Z: \(record)")
        #expect(try scan(at: "2026-11-28 14:04:59") == "enqueue")
        // Further from a slot, a run is itself: 3 s early is a day short.
        #expect(try scan(at: "2026-11-29 14:04:57") == "suppressed")
    }

    /// A committing `--now` in the past is allowed, with a note that what it enqueues is
    /// dated then (the daemon's next tick weighs it as that old); a dry run needs none.
    @Test func aPastNowThatEnqueuesSaysItsRecordsAreDatedThen() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: Self.rows)
        let config = try folder.write("config.json", configJSON())
        let dry = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:00Z"])
        #expect(dry.status == 0 && !dry.stderr.contains("note: --now"), "\(dry.stderr)")
        let scan = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(scan.status == 0, "\(scan.stderr)")
        #expect(scan.stderr.contains("note: --now 2026-11-24T15:00:00.000Z is earlier than this machine's clock"), "\(scan.stderr)")
        #expect(scan.stderr.contains("Replay on a copy of the state database"), "\(scan.stderr)")
    }

    /// A row with an empty `ticket_id` is warned about but still matched (as `#<id>`): the
    /// summary counts it apart, not among the skipped rows.
    @Test func theSummaryCountsOnlySkippedRowsAsSkipped() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 2, ticketID: "", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 3, ticketID: "  ", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 4, ticketID: "IGP-2026-0004", scheduledDate: "demain"),
        ])
        let config = try folder.write("config.json", configJSON())
        let result = try runOverdued(["scan", "--config", config, "--dry-run", "--now", "2026-11-24T15:00:00Z"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true)[2] }
                == ["IGP-2026-0001", "#2", "#3"], "\(result.stdout)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("warning: ") }.count == 3, "one warning per odd row: \(result.stderr)")
        #expect(lines.last == "3 matches, would enqueue 3 notifications, 0 suppressed, 1 rows skipped, 2 rows matched with a warning",
                "\(result.stderr)")
    }

    /// `due_at` is written as payloads write it: UTC with milliseconds, a stored fraction kept.
    @Test func jsonDueAtKeepsMilliseconds() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-24 09:00:00.750"),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: "2026-11-24 08:00:00"),
        ])
        let config = try folder.write("config.json", configJSON())
        let result = try runOverdued(["scan", "--config", config, "--dry-run", "--json", "--now", "2026-11-24T15:00:00Z"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let dueAt = Dictionary(uniqueKeysWithValues: items.map { ($0["ticket"] as? Int ?? 0, $0["due_at"] as? String ?? "") })
        #expect(dueAt == [1: "2026-11-24T14:00:00.750Z", 2: "2026-11-24T13:00:00.000Z"])
    }

    /// `--now` without a zone is refused, saying what is missing and how to write it.
    @Test func aNowWithoutAZoneSaysSo() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        for command in [["scan", "--dry-run"], ["once"]] {
            let result = try runOverdued(command + ["--config", config, "--now", "2026-11-24T15:00:00"])
            #expect(result.status == 64, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("'2026-11-24T15:00:00' is invalid for '--now <instant>': it has no time zone; add Z (UTC) or an offset ±HH:MM, e.g. 2026-11-24T15:00:00Z"),
                    "\(command): \(result.stderr)")
        }
        // Read by InstantText (its own tests): an instant with a zone is taken, a field out of
        // range and a value of no ISO 8601 shape refused, by both commands that take one.
        #expect(try runOverdued(["scan", "--dry-run", "--config", config, "--now", "2026-11-24T10:00:00.5-05:00"]).status == 0)
        for (value, reason) in [("2026-11-31T10:00:00Z", "2026-11 has no day 31"), ("2026-11-24T15:00:00.1e9Z", "expected an ISO 8601 instant")] {
            for command in [["scan", "--dry-run", "--now", value], ["history", "--since", value]] {
                let refused = try runOverdued(command + ["--config", config])
                #expect(refused.status == 64 && refused.stderr.contains(reason), "\(command): \(refused.stderr)")
            }
        }
    }

    /// A ticket id or date holding a terminal escape sequence or a line break (the app builds
    /// ticket ids from machine names people type) is printed escaped by `scan` and `history`:
    /// it neither acts on the operator's terminal nor starts what reads as another line.
    @Test func ticketTextIsPrintedEscaped() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        try sqlite3(folder.url("tickets.sqlite"), """
            UPDATE tickets SET ticket_id = 'IGP-1' || char(27) || ']0;owned' || char(7) || char(10) || 'enqueue  fake' WHERE id = 1;
            UPDATE tickets SET scheduled_date = 'demain' || char(27) || '[2J' WHERE id = 2;
            """)
        let scan = try runOverdued(["scan", "--dry-run", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(scan.status == 0, "\(scan.stderr)")
        for output in [scan.stdout, scan.stderr] {
            #expect(!output.utf8.contains(27), "\(output)")
        }
        #expect(scan.stderr.contains(#"scheduled_date "demain\u{1B}[2J""#), "\(scan.stderr)")

        try sqlite3(folder.url("state.sqlite"), "UPDATE notification SET ticket_id = 'IGP-1' || char(27) || '[2K' || char(10) || 'x', status = 'delivered', delivered_at = created_at WHERE ticket = 1;")
        let history = try runOverdued(["history", "--config", config])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(!history.stdout.utf8.contains(27), "\(history.stdout)")
        #expect(history.stdout.contains(#"IGP-1\u{1B}[2K\nx (#1)"#), "\(history.stdout)")
    }
}
