import Foundation
import Testing
import TestSupport

/// `overdued history` through the real binary.
@Suite struct HistoryCommandTests {
    /// Two tickets notified, then ticket 1 renamed and ticket 2 deleted by the app.
    static func notifiedThenRenamedAndDeleted(in folder: TemporaryDirectory) throws -> String {
        let config = try queuedNotifications(in: folder, tickets: 2)
        try sqlite3(folder.url("state.sqlite"), "UPDATE notification SET status = 'delivered', delivered_at = created_at;")
        try sqlite3(folder.url("tickets.sqlite"), "UPDATE tickets SET ticket_id = 'IGP-2026-0101' WHERE id = 1; DELETE FROM tickets WHERE id = 2;")
        return config
    }

    /// The ticket ids each line of the text listing names, as "IGP-2026-0001 (#1)".
    static func listed(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").map { line in
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            return words.count > 3 ? "\(words[2]) \(words[3])" : String(line)
        }
    }

    /// A notification keeps the human id the ticket had when it was made: `--ticket` finds it
    /// by that id after the app renamed or deleted the ticket, and by the ticket's new id
    /// (through the tickets database). An id nothing matches is "(none)", exit 0.
    @Test func aRenamedOrDeletedTicketIsFoundByItsHumanID() throws {
        let folder = try TemporaryDirectory()
        let config = try Self.notifiedThenRenamedAndDeleted(in: folder)
        for (ticket, expected) in [("IGP-2026-0001", ["IGP-2026-0001 (#1)"]), ("IGP-2026-0101", ["IGP-2026-0001 (#1)"]),
                                   ("IGP-2026-0002", ["IGP-2026-0002 (#2)"]), ("2", ["IGP-2026-0002 (#2)"])] {
            let result = try runOverdued(["history", "--config", config, "--ticket", ticket])
            #expect(result.status == 0, "\(ticket): \(result.stderr)")
            #expect(Self.listed(result.stdout) == expected, "\(ticket): \(result.stdout)")
        }
        let none = try runOverdued(["history", "--config", config, "--ticket", "IGP-2026-9999"])
        #expect(none.status == 0 && none.stdout == "(none)\n", "\(none.stdout) \(none.stderr)")
        // A number is also a human id written so: "42" notified under that id is found.
        try sqlite3(folder.url("state.sqlite"), "UPDATE notification SET ticket_id = '42' WHERE ticket = 1;")
        let numeric = try runOverdued(["history", "--config", config, "--ticket", "42"])
        #expect(Self.listed(numeric.stdout) == ["42 (#1)"], "\(numeric.stdout) \(numeric.stderr)")
        // A value that starts like an option (a negative id) is given as --ticket=-5: in two
        // words it is a usage error, as `--ticket --json` is (the flag is not taken for an id).
        #expect(try runOverdued(["history", "--config", config, "--ticket", "--json"]).status == 64)
        let negative = try runOverdued(["history", "--config", config, "--ticket=-5"])
        #expect(negative.status == 0 && negative.stdout == "(none)\n", "\(negative.stdout) \(negative.stderr)")
        let json = try runOverdued(["history", "--config", config, "--ticket", "IGP-2026-9999", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [Any])?.isEmpty == true, "\(json.stdout)")
    }

    /// `--rule`, `--destination`, `--status` and `--since` narrow the history, together with
    /// `--ticket` too; `--since` takes an instant with its zone or a duration back from now.
    @Test func theHistoryIsFilteredByRuleDestinationStatusAndTime() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 4)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let day: Int64 = 86_400_000
        // Ticket 1 delivered 10 days ago, 2 today, 3 dead 2 days ago under an old rule, 4 withdrawn to another destination.
        try sqlite3(folder.url("state.sqlite"), """
            UPDATE notification SET status = 'delivered', delivered_at = \(now - 10 * day) WHERE ticket = 1;
            UPDATE notification SET status = 'delivered', delivered_at = \(now - 60_000) WHERE ticket = 2;
            UPDATE notification SET status = 'dead', dead_at = \(now - 2 * day), rule = 'retired-rule' WHERE ticket = 3;
            UPDATE notification SET status = 'withdrawn', withdrawn_at = \(now - 3_600_000), destination = 'old-hook' WHERE ticket = 4;
            """)
        func tickets(_ arguments: [String]) throws -> [String] {
            let result = try runOverdued(["history", "--config", config] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return result.stdout == "(none)\n" ? [] : Self.listed(result.stdout).map { String($0.split(separator: " ")[1]) }
        }
        #expect(try tickets([]) == ["(#2)", "(#4)", "(#3)", "(#1)"])
        #expect(try tickets(["--since", "3d"]) == ["(#2)", "(#4)", "(#3)"])
        #expect(try tickets(["--since", "90m"]) == ["(#2)", "(#4)"])
        let iso = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(now - 5 * day) / 1000))
        #expect(try tickets(["--since", iso]) == ["(#2)", "(#4)", "(#3)"])
        #expect(try tickets(["--status", "dead"]) == ["(#3)"])
        #expect(try tickets(["--rule", "retired-rule"]) == ["(#3)"], "a rule no longer in the config keeps its history")
        #expect(try tickets(["--destination", "old-hook"]) == ["(#4)"])
        #expect(try tickets(["--destination", "hook", "--status", "delivered", "--since", "1d"]) == ["(#2)"])
        #expect(try tickets(["--ticket", "1", "--since", "1d"]) == [])
        let typo = try runOverdued(["history", "--config", config, "--rule", "old-rul"])
        #expect(typo.stdout == "(none)\n" && typo.stderr == "note: no rule named old-rul in the config; defined: old-rule\n", "\(typo.stderr)")
        for (since, reason) in [("yesterday", "expected a duration (7d, 12h, 30m) or an ISO 8601 instant with a time zone"),
                                ("100000d", "is too long (more than 100 years)"), ("2026-11-20T10:00:00", "it has no time zone"),
                                ("-1d", "a duration counts back from now already: write 1d, without the minus")] {
            let bad = try runOverdued(["history", "--config", config, "--since", since])
            #expect(bad.status == 64 && bad.stderr.contains("--since \"\(since)\": ") && bad.stderr.contains(reason), "\(bad.stderr)")
        }
    }

    /// `queue --help` shows the subcommands; it says where the listing's options are (the
    /// contract's `overdued queue --json` is `queue list --json`).
    @Test func queueHelpPointsAtTheListingsOptions() throws {
        let help = try runOverdued(["queue", "--help"])
        #expect(help.status == 0 && help.stdout.contains("overdued queue list --help"), "\(help.stdout)")
    }

    /// A limit below 1 would list nothing and print "(none)": refused as a usage error, also when
    /// it is negative (which looks like an option).
    @Test func aLimitBelowOneIsRefused() throws {
        let folder = try TemporaryDirectory()
        let config = try Self.notifiedThenRenamedAndDeleted(in: folder)
        for command in [["history"], ["queue"]] {
            for limit in ["0", "-3"] {
                let result = try runOverdued(command + ["--config", config, "--limit", limit])
                #expect(result.status == 64, "\(command): \(result.stdout) \(result.stderr)")
                #expect(result.stderr.contains("--limit must be at least 1, found \(limit)"), "\(command): \(result.stderr)")
            }
        }
    }

    /// `once --max-wait` that is no duration is a usage error like the others (it exited 1),
    /// with its reason, also when it is negative (it said "Missing value").
    @Test func aMaxWaitThatIsNoDurationIsAUsageError() throws {
        let folder = try TemporaryDirectory()
        let config = try Self.notifiedThenRenamedAndDeleted(in: folder)
        for (value, reason) in [("5", "has a number without a unit"), ("-1s", "is not a duration")] {
            let result = try runOverdued(["once", "--config", config, "--max-wait", value])
            #expect(result.status == 64 && result.stderr.contains("'--max-wait <duration>': \"\(value)\" \(reason)"), "\(result.stderr)")
        }
    }
}

/// Root beside the service: no `$CREDENTIALS_DIRECTORY`, so the credential files the config
/// names relatively are not found. `queue` and `history` send nothing and need none of them;
/// `send-test` does, and says how to give it the service's view.
struct CommandsWithoutCredentialsTests {
    @Test func queueAndHistoryWorkWithoutTheSecretsAndSendTestSaysWhereTheyAre() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(2))
        let config = try folder.write("config.json", configJSON().replacingOccurrences(
            of: "\"url\": \"http://127.0.0.1:9/hooks/secret-token\"", with: "\"url_file\": \"webhook-url\""))
        let credentials = try TemporaryDirectory()
        try Data("http://127.0.0.1:9/hooks/secret-token\n".utf8).write(to: URL(fileURLWithPath: credentials.url("webhook-url")))
        let scan = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"],
                                   environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        #expect(scan.status == 0, "\(scan.stderr)")
        for command in [["queue"], ["history"], ["queue", "--json"]] {
            let result = try runOverdued(command + ["--config", config])
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.stdout.contains("pending"), "\(queue.stdout)")
        let sendTest = try runOverdued(["send-test", "--config", config])
        #expect(sendTest.status == 1)
        #expect(sendTest.stderr.contains("$CREDENTIALS_DIRECTORY, which is not set"), "\(sendTest.stderr)")
    }
}
