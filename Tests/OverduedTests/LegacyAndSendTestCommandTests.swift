import Foundation
import Notifier
import Store
import Testing
import TestSupport

/// `import-legacy` and `send-test` through the real binary.
@Suite struct LegacyAndSendTestCommandTests {
    /// The import writes in batches, and a tick between two of them would notify what it is
    /// about to record: with a deliverer running (the delivery lock held) it refuses, writing
    /// nothing, and holds the lock itself meanwhile (ops audit: it did not look).
    @Test func importLegacyRefusesBesideADeliverer() throws {
        let (folder, database, config) = try Self.oneLegacyNotification(sentAt: "2026-11-24T13:00:00.000Z")
        var running: DeliveryLock? = try DeliveryLock(stateDatabase: folder.url("state.sqlite"))
        let refused = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("an overdued process (pid \(getpid())) delivers from it now: stop it first (systemctl stop overdued)"),
                "stderr: \(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.url("state.sqlite")), "nothing written")
        running = nil
        let imported = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(imported.status == 0 && imported.stdout.contains("seeded 1 dedup record(s)"), "\(imported.stdout) \(imported.stderr)")
        withExtendedLifetime(running) {}
    }

    /// Switching over from the old automation: tickets it notified in the last 24 h (per its
    /// webhook_notifications log) are not notified again; older ones are.
    @Test func importLegacySeedsTheDedupState() throws {
        let folder = try TemporaryDirectory()
        let database = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: database, rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 3, ticketID: "IGP-2026-0003", scheduledDate: "2026-11-20 08:00:00"),
        ])
        // Ticket 1 notified 2 h before now, ticket 2 two days before; ticket 3 never.
        let sql = """
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            VALUES (1, 'overdue_scheduled', 'https://old.example/hook?token=abc', '2026-11-24T13:00:00.000Z', 200, '2026-11-20 08:00:00'),
                   (2, 'overdue_scheduled', 'https://old.example/hook?token=abc', '2026-11-22T15:00:00.000Z', 500, '2026-11-20 08:00:00'),
                   (1, 'overdue_scheduled', 'https://old.example/hook?token=abc', 'not a date', 200, NULL);
            """
        try sqlite3(database, sql)
        let config = try folder.write("config.json", configJSON())
        let imported = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(imported.status == 0, "stderr: \(imported.stderr)")
        // Ticket 2's only notification was refused by the receiver (500): not notified.
        #expect(imported.stdout.contains("1 the receiver refused (HTTP status outside 2xx) are not counted as notified; seeded 1 dedup record(s)"),
                "stdout: \(imported.stdout)")
        #expect(imported.stderr.contains("\"not a date\""), "the unreadable row is named")
        // Again: the records are the first import's, not overdued's own notifications.
        let again = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(again.stdout.contains("seeded 0 dedup record(s) for rule(s) old-rule; 1 left as they were (the dedup state is as new or newer: imported before, or notified by overdued since)"),
                "stdout: \(again.stdout)")

        let actions = try Self.scanActions(config)
        #expect(actions == [1: "suppressed", 2: "enqueue", 3: "enqueue"])
    }

    /// A log whose dedup broke holds a row per ticket per tick: it is read one row at a time,
    /// its unreadable rows are described up to 20 and then counted, and each (ticket, date)
    /// is remembered once, at its newest delivery.
    @Test func importLegacyOfAFloodedLogSaysWhatItSkippedOnce() throws {
        let folder = try TemporaryDirectory()
        let database = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: database, rows: [TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00")])
        try sqlite3(database, """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999)
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            SELECT 1, 'overdue_scheduled', 'https://old.example/hook', strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-20', '+' || (i * 60) || ' seconds'),
                   200, '2026-11-20 08:00:00' FROM n;
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 24)
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status)
            SELECT 1, 'overdue_scheduled', 'https://old.example/hook', 'garbage ' || i, 200 FROM n;
            """)
        // The old rule keeps the dates notified; a daily one keeps none (as a scan does).
        let config = try folder.write("config.json", configJSON(rules: """
            [{"name": "old-rule", "match": {"status_in": ["received", "diagnostic"], "assigned": true},
              "repeat": {"once_per_scheduled_date": true}, "destinations": ["hook"]},
             {"name": "daily", "match": {"status_in": ["received"]}, "repeat": {"every": "24h"}, "destinations": ["hook"]}]
            """))
        let imported = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(imported.status == 0, "stderr: \(imported.stderr)")
        #expect(imported.stdout.hasPrefix("read 3025 legacy notification(s) (25 skipped); seeded 2 dedup record(s)"), "\(imported.stdout)")
        let warnings = imported.stderr.split(separator: "\n")
        #expect(warnings.count == 21, "\(imported.stderr)")
        #expect(warnings.last == "warning: \(database): webhook_notifications: 5 more row(s) with a sent_at that is not a date; skipped")
        let state = folder.url("state.sqlite")
        #expect(try sqlite3Output(state, "SELECT rule, count(*), max(notified_at) FROM dedup_scheduled_date GROUP BY rule")
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "old-rule|1|\(Int64(1_795_132_800_000 + 2_999 * 60_000))",
                "one date, at its newest delivery (2026-11-22T01:59:00Z), for the old rule only")
    }

    /// Under the old rule (one notification per scheduled date), every date the old system
    /// notified counts, not only its last one; a date whose only notification the receiver
    /// refused (500: the old bug, counted as sent) is notified now.
    @Test func importLegacyRemembersEveryDateItDelivered() throws {
        let folder = try TemporaryDirectory()
        let database = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: database, rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-10 08:00:00"),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: "2026-11-12 08:00:00"),
        ])
        // Ticket 1: notified for the 10th, then for the 12th, and moved back to the 10th since.
        try sqlite3(database, """
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            VALUES (1, 'overdue_scheduled', 'https://old.example/h', '2026-11-10T14:00:00.000Z', 200, '2026-11-10 08:00:00'),
                   (1, 'overdue_scheduled', 'https://old.example/h', '2026-11-12T14:00:00.000Z', 200, '2026-11-12 08:00:00'),
                   (2, 'overdue_scheduled', 'https://old.example/h', '2026-11-12T14:00:00.000Z', 500, '2026-11-12 08:00:00');
            """)
        let config = try folder.write("config.json", configJSON(rules: """
            [{"name": "old-rule", "match": {"status_in": ["received"], "assigned": true},
              "repeat": {"once_per_scheduled_date": true}, "destinations": ["hook"]}]
            """))
        let imported = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(imported.status == 0, "stderr: \(imported.stderr)")
        let actions = try Self.scanActions(config)
        #expect(actions == [1: "suppressed", 2: "enqueue"])
    }

    /// tickets.id → "enqueue" or "suppressed", from `scan --dry-run --json` at 2026-11-24T15:00Z.
    static func scanActions(_ config: String) throws -> [Int: String] {
        let scan = try runOverdued(["scan", "--config", config, "--dry-run", "--json", "--now", "2026-11-24T15:00:00Z"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(scan.stdout.utf8)) as? [[String: Any]], "\(scan.stderr)")
        return Dictionary(uniqueKeysWithValues: items.map { ($0["ticket"] as? Int ?? 0, $0["action"] as? String ?? "") })
    }

    /// A row dated ahead of the import (the app's clock ahead, or a date without a time, read
    /// as 23:59:59) counts as sent at the import, with a warning: taken as it is, it read as a
    /// clock set back, and the ticket was notified again at once. Rows the import cannot use
    /// (no such ticket, another notification_type) are counted in its summary, not dropped silently.
    @Test func importLegacyCountsARowDatedAheadAsSentNowAndSaysWhatItLeftOut() throws {
        let folder = try TemporaryDirectory()
        let database = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: database, rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", scheduledDate: "2026-11-20 08:00:00"),
        ])
        try sqlite3(database, """
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            VALUES (1, 'overdue_scheduled', 'https://old.example/hook', '2099-01-01T00:00:00.000Z', 200, '2026-11-20 08:00:00'),
                   (4242, 'overdue_scheduled', 'https://old.example/hook', '2026-11-24T13:00:00.000Z', 200, NULL),
                   ('IGP-2026-0002', 'overdue_scheduled', 'https://old.example/hook', '2026-11-24T13:00:00.000Z', 200, NULL),
                   (2, 'Overdue_Scheduled', 'https://old.example/hook', '2026-11-24T13:00:00.000Z', 200, NULL);
            """)
        let config = try folder.write("config.json", configJSON())
        let before = Date()
        let imported = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(imported.status == 0, "stderr: \(imported.stderr)")
        #expect(imported.stdout.hasPrefix("read 2 legacy notification(s); 1 more name no ticket of \(database), by its id or its human id "
                                          + "(deleted since: nothing to seed); 1 of another notification_type than overdue_scheduled left out; "
                                          + "seeded 2 dedup record(s)"),
                "stdout: \(imported.stdout)")
        #expect(imported.stderr.contains("ticket 1: sent_at \"2099-01-01T00:00:00.000Z\" is later than now ("), "stderr: \(imported.stderr)")
        #expect(imported.stderr.contains("counted as sent now"), "stderr: \(imported.stderr)")
        let recorded = try #require(Int64(try sqlite3Output(folder.url("state.sqlite"), "SELECT last_notified_at FROM dedup_state WHERE ticket = 1")
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(recorded >= Int64(before.timeIntervalSince1970 * 1000) && recorded <= Int64(Date().timeIntervalSince1970 * 1000))
        // At the machine's clock (no --now): ticket 1 was notified by the old system, and is not again.
        let scan = try runOverdued(["scan", "--config", config, "--dry-run", "--json"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(scan.stdout.utf8)) as? [[String: Any]], "\(scan.stderr)")
        let actions = Dictionary(uniqueKeysWithValues: items.map { ($0["ticket"] as? Int ?? 0, $0["action"] as? String ?? "") })
        #expect(actions == [1: "suppressed", 2: "enqueue"])
    }

    @Test func importLegacyFromAFolderSaysItIsOne() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let result = try runOverdued(["import-legacy", "--from", folder.path, "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(folder.path): is a directory, not a database file"), "stderr: \(result.stderr)")
    }

    /// A FIFO at the tickets database's path would block the first read until someone wrote
    /// to it: check-config, scan and once hung. Refused at once, naming what it is.
    @Test func aFIFOAtTheTicketsPathIsRefusedAtOnce() throws {
        let folder = try TemporaryDirectory()
        #expect(mkfifo(folder.url("tickets.sqlite"), 0o600) == 0)
        let config = try folder.write("config.json", configJSON())
        for command in [["check-config"], ["scan", "--dry-run"]] {
            let result = try runOverdued(command + ["--config", config])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("is not a regular file (a FIFO, socket or device)"), "\(command): \(result.stderr)")
        }
    }

    /// A ticket count out of range is refused with the range, also when it is negative (which
    /// looks like an option).
    @Test func demoRefusesATicketCountOutOfRange() throws {
        let folder = try TemporaryDirectory()
        for count in ["0", "-5"] {
            let refused = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", count])
            #expect(refused.status == 64 && refused.stderr.contains("--tickets must be between 1 and 50000000"), "\(count): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder.url("demo")))
        }
    }

    /// `--dir ""` (an unset shell variable) is refused, not the current folder filled with the
    /// demo's files.
    @Test func demoRefusesAnEmptyFolderName() throws {
        for name in ["", "  "] {
            let refused = try runOverdued(["demo", "--dir", name, "--tickets", "5"])
            #expect(refused.status == 64 && refused.stderr.contains("--dir must name a folder"), "\(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/tickets.sqlite"))
    }

    /// `demo --timezone` writes store.timezone: a zone the config refuses is refused here.
    @Test func demoRefusesAZoneItsConfigWouldRefuse() throws {
        let folder = try TemporaryDirectory()
        let fixed = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "30", "--timezone", "Etc/GMT+12"])
        #expect(fixed.status == 64 && fixed.stderr.contains("--timezone Etc/GMT+12 is not an IANA zone"), "\(fixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.url("demo")))
        let real = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "30", "--timezone", "Europe/Paris", "--sink", "127.0.0.1:9"])
        #expect(real.status == 0, "\(real.stderr)")
        let check = try runOverdued(["check-config", "--config", folder.url("demo/config.json")])
        #expect(check.status == 0, "\(check.stderr)")
    }

    /// `--sink` goes into the config and the commands printed: one they would refuse (no
    /// port, port 0, a quote that breaks the JSON) is refused at once. An existing
    /// signing-secret is never replaced (it was, through a link too); a new one is 0600.
    /// The demo's files get their modes, whatever the umask: under 000 they were writable by
    /// every user (the config decides where payloads go).
    @Test func demoFilesHaveTheirModesUnderAnyUmask() throws {
        let folder = try TemporaryDirectory()
        let made = try runOverdued(["demo", "--dir", folder.url("open"), "--tickets", "30"],
                                   prefix: ["/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\""])
        #expect(made.status == 0, "\(made.stderr)")
        for (name, expected) in [("", 0o755), ("/config.json", 0o644), ("/tickets.sqlite", 0o644), ("/signing-secret", 0o600)] {
            let mode = try FileManager.default.attributesOfItem(atPath: folder.url("open") + name)[.posixPermissions] as? Int
            #expect(mode == expected, "open\(name): \(String(mode ?? 0, radix: 8))")
        }
    }

    @Test func demoRefusesASinkItsConfigCannotUseAndKeepsAnExistingSecret() throws {
        let folder = try TemporaryDirectory()
        for (sink, phrase) in [("127.0.0.1", "expected host:port"), ("127.0.0.1:0", "a port of its own"),
                               ("127.0.0.1\":1", "the host must be a name or an IP address")] {
            let refused = try runOverdued(["demo", "--dir", folder.url("demo"), "--tickets", "30", "--sink", sink])
            #expect(refused.status == 64 && refused.stderr.contains(phrase), "\(sink): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder.url("demo")))
        }
        let made = try runOverdued(["demo", "--dir", folder.url("made"), "--tickets", "30", "--sink", "[::1]:47991"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("overdued sink --listen [::1]:47991"), "\(made.stdout)")
        let mode = try FileManager.default.attributesOfItem(atPath: folder.url("made/signing-secret"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let kept = try folder.write("keep/signing-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
        let again = try runOverdued(["demo", "--dir", folder.url("keep"), "--tickets", "30"])
        #expect(again.status == 1 && again.stderr.contains("signing-secret already exists; overdued demo never overwrites"), "\(again.stderr)")
        #expect(try String(contentsOfFile: kept, encoding: .utf8) == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
        #expect(!FileManager.default.fileExists(atPath: folder.url("keep/tickets.sqlite")), "nothing written")

        // An earlier demo's state database alone: the new config would use its queue and history.
        _ = try folder.write("old/state.sqlite", "")
        let old = try runOverdued(["demo", "--dir", folder.url("old"), "--tickets", "30"])
        #expect(old.status == 1 && old.stderr.contains("state.sqlite already exists: the queue and history of an earlier demo"), "\(old.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.url("old/tickets.sqlite")), "nothing written")
    }

    /// A legacy notification dated ahead (the app's clock ahead) counts as sent at the import:
    /// a second import leaves that record as it is, instead of moving it to its own instant
    /// (which delayed the ticket's next notification by the time between the imports).
    @Test func aSecondImportLeavesARecordCountedAtTheFirst() throws {
        let (folder, database, config) = try Self.oneLegacyNotification(sentAt: "2099-01-01T00:00:00.000Z")
        let first = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(first.status == 0 && first.stdout.contains("seeded 1 dedup record(s)"), "\(first.stdout) \(first.stderr)")
        let recorded = try sqlite3Output(folder.url("state.sqlite"), "SELECT last_notified_at, past_notified_at FROM dedup_state")
        usleep(20_000)
        let second = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(second.status == 0 && second.stdout.contains("seeded 0 dedup record(s)"), "\(second.stdout) \(second.stderr)")
        #expect(try sqlite3Output(folder.url("state.sqlite"), "SELECT last_notified_at, past_notified_at FROM dedup_state") == recorded)
        // The old system notified the ticket again, for a new date (its clock still ahead): a
        // third import takes that one, another notification than the one counted before.
        try sqlite3(database, """
            UPDATE tickets SET scheduled_date = '2026-12-01 08:00:00' WHERE id = 1;
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            VALUES (1, 'overdue_scheduled', 'https://old.example/hook', '2099-02-01T00:00:00.000Z', 200, '2026-12-01 08:00:00');
            """)
        let third = try runOverdued(["import-legacy", "--from", database, "--config", config])
        #expect(third.status == 0 && third.stdout.contains("seeded 1 dedup record(s)"), "\(third.stdout) \(third.stderr)")
        #expect(try sqlite3Output(folder.url("state.sqlite"), "SELECT scheduled_date FROM dedup_state") == "2026-12-01 08:00:00\n")
    }

    /// The checks an operator makes before the unit's first start, when the state database's
    /// folder (/var/lib/overdued) does not exist yet: a test send and a dry run write nothing,
    /// so they need none. (They refused: "the folder … does not exist".) No file is created.
    @Test func aTestSendAndADryRunNeedNoStateFolder() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(2))
        let received = Received()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { delivery in received.add(delivery.webhookID) }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let config = try folder.write("config.json", configJSON(state: "not-yet/state.sqlite", destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token"))
        let sent = try runOverdued(["send-test", "--config", config])
        #expect(sent.status == 0 && sent.stdout.contains("HTTP 200"), "\(sent.stdout) \(sent.stderr)")
        #expect(received.all.count == 1)
        let dry = try runOverdued(["scan", "--dry-run", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(dry.status == 0 && dry.stdout.contains("enqueue"), "\(dry.stdout) \(dry.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.url("not-yet")), "nothing created")
        // In a folder that exists, a test send creates no state database either.
        try FileManager.default.createDirectory(atPath: folder.url("not-yet"), withIntermediateDirectories: true)
        #expect(try runOverdued(["send-test", "--config", config]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url("not-yet")).isEmpty)
        // A committing scan still needs the folder it writes in.
        try FileManager.default.removeItem(atPath: folder.url("not-yet"))
        let scan = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(scan.status == 1 && scan.stderr.contains("does not exist"), "\(scan.stderr)")
    }

    @Test func sendTestReportsStatusAndLatencyAndRecordsNothing() async throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let received = Received()
        let bodies = LockedData()
        let sink = try WebhookSink(host: "127.0.0.1", port: 0) { delivery in
            received.add(delivery.webhookID)
            bodies.append(delivery.body)
        }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let config = try folder.write("config.json", configJSON(destinationURL: "http://127.0.0.1:\(port)/hooks/secret-token"))
        let result = try runOverdued(["send-test", "--config", config, "--destination", "hook"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("hook (http://127.0.0.1:\(port)): HTTP 200 in "))
        #expect(!result.stdout.contains("secret-token"))
        #expect(received.all.count == 1)
        #expect(String(decoding: bodies.get(), as: UTF8.self).contains("\"overdued.test\""))
        let queue = try runOverdued(["queue", "--config", config, "--json"])
        #expect(queue.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || queue.stdout.contains("[]"),
                "a test send records nothing: \(queue.stdout)")

        // A destination that refuses: exit 1 with the reason, still no URL path.
        let refusing = try RefusedPort()
        let refused = try folder.write("refused.json", configJSON(destinationURL: "http://127.0.0.1:\(refusing.port)/hooks/secret-token"))
        let failed = try runOverdued(["send-test", "--config", refused])
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("no response"))
        #expect(!failed.stdout.contains("secret-token"))
        withExtendedLifetime(refusing) {}
    }

    /// A tickets database with one ticket and one legacy notification of it sent at
    /// `sentAt` (delivered, its date notified), and a config beside it.
    static func oneLegacyNotification(sentAt: String) throws -> (TemporaryDirectory, String, String) {
        let folder = try TemporaryDirectory()
        let database = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: database, rows: [TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00")])
        try sqlite3(database, """
            INSERT INTO webhook_notifications (ticket_id, notification_type, webhook_url, sent_at, response_status, scheduled_date_notified)
            VALUES (1, 'overdue_scheduled', 'https://old.example/hook', '\(sentAt)', 200, '2026-11-20 08:00:00');
            """)
        return (folder, database, try folder.write("config.json", configJSON()))
    }
}
