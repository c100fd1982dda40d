import Foundation
import Store
import Testing
import TestSupport

/// `overdued queue` through the real binary.
@Suite struct QueueCommandTests {
    /// A notification whose destination left the config is never tried (the daemon keeps it
    /// until the destination is back): the queue says so, rather than showing its last retry
    /// ("attempt 6 in 566ms") as if it were coming.
    @Test func aNotificationWhoseDestinationLeftTheConfigIsShownOnHold() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        // Queued for a destination since removed from the config, after five failed attempts.
        try sqlite3(folder.url("state.sqlite"), """
            UPDATE notification SET destination = 'old-hook', status = 'retrying', attempts = 5, last_http_status = 503,
                   last_error = 'HTTP 503; attempt 6 in 566ms (backoff up to 1s)' WHERE ticket = 1;
            """)
        let reason = "destination old-hook is not in the config; not delivered (the daemon's next tick withdraws it)"

        let text = try runOverdued(["queue", "--config", config])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        let lines = text.stdout.split(separator: "\n")
        let held = try #require(lines.first { $0.contains("IGP-2026-0001") }, "\(text.stdout)")
        #expect(held.contains("on hold: \(reason)"), "\(held)")
        #expect(held.contains("last error: HTTP 503; attempt 6 in 566ms"), "\(held)")
        let waiting = try #require(lines.first { $0.contains("IGP-2026-0002") }, "\(text.stdout)")
        #expect(!waiting.contains("on hold"), "\(waiting)")
        #expect(waiting.contains("next attempt due now"), "\(waiting)")

        // The last error's "in 1h" was true when it was written; the listing says when the
        // notification goes from its due time now (here, after an early `queue resume`).
        try sqlite3(folder.url("state.sqlite"), """
            UPDATE notification SET status = 'retrying', attempts = 1, last_http_status = 503,
                   last_error = 'HTTP 503; attempt 2 in 1h (as Retry-After asks)',
                   next_attempt_at = CAST(unixepoch('now') * 1000 AS INTEGER) + 600000 WHERE ticket = 2;
            """)
        let later = try runOverdued(["queue", "--config", config])
        let retrying = try #require(later.stdout.split(separator: "\n").first { $0.contains("IGP-2026-0002") }, "\(later.stdout)")
        #expect(retrying.contains("next attempt at ") && (retrying.contains("(in 10m)") || retrying.contains("(in 9m")), "\(retrying)")
        #expect(retrying.contains("(last error: HTTP 503; attempt 2 in 1h (as Retry-After asks))"), "\(retrying)")

        let json = try runOverdued(["queue", "--config", config, "--json"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let heldItem = try #require(items.first { $0["ticket"] as? Int == 1 })
        #expect(heldItem["on_hold"] as? String == reason)
        #expect(heldItem["destination"] as? String == "old-hook")
        #expect(heldItem["last_error"] as? String == "HTTP 503; attempt 6 in 566ms (backoff up to 1s)", "the other fields stay")
        let waitingItem = try #require(items.first { $0["ticket"] as? Int == 2 })
        #expect(waitingItem["on_hold"] is NSNull, "\(waitingItem)")
    }

    /// A receiver asked to wait (a 503 with Retry-After, recorded by the daemon): `queue`
    /// says so per destination, until when, and each queued notification's JSON carries it;
    /// a pause of the receiver the destination pointed to before, or of a destination no
    /// longer configured, is not shown. `once` sends nothing to it meanwhile, and says why.
    @Test func aReceiversPauseIsShownAndHonouredByOnce() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let state = folder.url("state.sqlite")
        let setAt = Int64(Date().timeIntervalSince1970 * 1000)
        let until = setAt + 3_600_000
        try sqlite3(state, """
            INSERT INTO receiver_pause (destination, until_at, http_status, set_at, receiver) VALUES
                ('hook', \(until), 503, \(setAt), 'http://127.0.0.1:9'),
                ('old-hook', \(until), 429, \(setAt), 'http://127.0.0.1:9');
            """)
        let shownUntil = CivilDate.iso8601(Date(timeIntervalSince1970: Double(until) / 1000))

        let text = try runOverdued(["queue", "--config", config])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        let paused = lines.filter { $0.contains("paused by the receiver") }
        #expect(paused.count == 1, "\(text.stdout)")
        #expect(paused.first?.hasPrefix("hook (http://127.0.0.1:9): paused by the receiver until \(shownUntil) (HTTP 503 with Retry-After at ") == true,
                "\(text.stdout)")
        #expect(lines.first?.hasPrefix("pending 2,") == true, "the counts come first: \(text.stdout)")
        let waiting = lines.filter { $0.contains("IGP-2026-000") }
        #expect(waiting.count == 2 && waiting.allSatisfy { $0.contains("next attempt after its receiver's pause, at \(shownUntil)") },
                "not \"due now\": \(text.stdout)")

        let json = try runOverdued(["queue", "--config", config, "--json"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(items.count == 2)
        for item in items {
            let pause = try #require(item["paused_by_receiver"] as? [String: Any], "\(item)")
            #expect(pause["until"] as? String == shownUntil)
            #expect(pause["http_status"] as? Int == 503)
        }

        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s"])
        #expect(once.status == 0, "stderr: \(once.stderr)")
        #expect(once.stderr.contains("hook asked to wait (Retry-After) past the end of this run"), "\(once.stderr)")
        #expect(try sqlite3Output(state, "SELECT count(*) FROM delivery_attempt").trimmingCharacters(in: .whitespacesAndNewlines) == "0",
                "once sent into the receiver's pause")

        // The operator repointed the destination since the receiver asked.
        try sqlite3(state, "UPDATE receiver_pause SET receiver = 'https://elsewhere.example.com' WHERE destination = 'hook';")
        let repointed = try runOverdued(["queue", "--config", config])
        #expect(!repointed.stdout.contains("paused by the receiver"), "\(repointed.stdout)")
        let repointedJSON = try runOverdued(["queue", "--config", config, "--json"])
        let repointedItems = try #require(try JSONSerialization.jsonObject(with: Data(repointedJSON.stdout.utf8)) as? [[String: Any]])
        #expect(repointedItems.allSatisfy { $0["paused_by_receiver"] is NSNull }, "\(repointedJSON.stdout)")
    }

    /// `queue retry ID` requeues only dead notifications; for another one it says what it is
    /// (and when it is tried next), still exiting 1.
    @Test func retryingANotificationThatIsNotDeadSaysWhatItIs() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let state = folder.url("state.sqlite")
        try sqlite3(state, "UPDATE notification SET status = 'retrying', attempts = 2, next_attempt_at = 1795532700123 WHERE ticket = 1;")
        func id(_ ticket: Int) throws -> String {
            try sqlite3Output(state, "SELECT id FROM notification WHERE ticket = \(ticket)").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let retrying = try runOverdued(["queue", "retry", try id(1), "--config", config])
        #expect(retrying.status == 1)
        #expect(retrying.stderr == "\(try id(1)) is retrying, next attempt at 2026-11-24T15:05:00.123Z; only dead notifications are requeued (see `overdued queue`)\n",
                "\(retrying.stderr)")
        let pending = try runOverdued(["queue", "retry", try id(2), "--config", config])
        #expect(pending.status == 1)
        #expect(pending.stderr.hasPrefix("\(try id(2)) is pending, next attempt at 2026-11-24T15:00:00.000Z; only dead"), "\(pending.stderr)")
        let unknown = try runOverdued(["queue", "retry", "msg_0", "--config", config])
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix("no notification has the id msg_0"), "\(unknown.stderr)")
    }

    /// `queue retry` weighs each dead notification before requeueing it: one whose ticket was
    /// closed since, whose rule left the config, or that a newer notification replaced stays
    /// dead, with the reason; `--force` requeues it anyway. Without the tickets database it
    /// requeues as before, and says it did not check.
    @Test func retryLeavesDeadWhatNoLongerStands() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 4)
        let state = folder.url("state.sqlite")
        let tickets = folder.url("tickets.sqlite")
        func id(_ ticket: Int) throws -> String {
            try sqlite3Output(state, "SELECT id FROM notification WHERE ticket = \(ticket) ORDER BY created_at LIMIT 1")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func status(_ ticket: Int) throws -> String {
            try sqlite3Output(state, "SELECT status FROM notification WHERE id = '\(try id(ticket))'").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try sqlite3(state, """
            UPDATE notification SET status = 'dead', dead_at = created_at + 60000, attempts = 5, last_http_status = 503;
            UPDATE notification SET rule = 'gone-rule' WHERE ticket = 3;
            INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts, delivered_at)
                SELECT 'msg_newer', rule, ticket, ticket_id, destination, snapshot, 'delivered', created_at + 86400000, created_at + 86400000, 1,
                       created_at + 86400000 FROM notification WHERE ticket = 2;
            """)
        try sqlite3(tickets, "UPDATE tickets SET status = 'completed', completed_at = '2026-11-25 10:00:00' WHERE id = 1;")

        let all = try runOverdued(["queue", "retry", "--dead", "--config", config])
        #expect(all.status == 0, "stderr: \(all.stderr)")
        #expect(all.stderr.isEmpty, "\(all.stderr)")
        let lines = all.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "requeued 1 dead notification(s)", "\(all.stdout)")
        #expect(lines.dropFirst().first == "left 3 dead (`--force` requeues them too):", "\(all.stdout)")
        #expect(lines.contains("  \(try id(1)) (IGP-2026-0001, rule old-rule, for hook): its rule no longer selects the ticket (closed, rescheduled, reassigned or deleted since)"),
                "\(all.stdout)")
        #expect(lines.contains("  \(try id(2)) (IGP-2026-0002, rule old-rule, for hook): msg_newer, a newer notification for the same ticket, rule and destination, was queued or delivered since"),
                "\(all.stdout)")
        #expect(lines.contains("  \(try id(3)) (IGP-2026-0003, rule gone-rule, for hook): its rule is no longer in the config"), "\(all.stdout)")
        #expect(try [status(1), status(2), status(3), status(4)] == ["dead", "dead", "dead", "retrying"])

        let closed = try id(1)
        let one = try runOverdued(["queue", "retry", closed, "--config", config])
        #expect(one.status == 1)
        #expect(one.stderr == "\(closed) (IGP-2026-0001, rule old-rule, for hook) is left dead: its rule no longer selects the ticket "
                + "(closed, rescheduled, reassigned or deleted since); `overdued queue retry --force \(closed)` requeues it anyway\n", "\(one.stderr)")
        #expect(try status(1) == "dead")
        let forced = try runOverdued(["queue", "retry", "--force", closed, "--config", config])
        #expect(forced.status == 0 && forced.stdout == "requeued \(closed)\n", "\(forced.stdout) \(forced.stderr)")
        #expect(try status(1) == "retrying")

        // Without the tickets database: nothing requeued, exit 1; --force requeues unweighed.
        try sqlite3(state, "UPDATE notification SET status = 'dead' WHERE ticket IN (1, 4) AND id != 'msg_newer';")
        try FileManager.default.moveItem(atPath: tickets, toPath: tickets + ".away")
        let blind = try runOverdued(["queue", "retry", "--dead", "--config", config])
        #expect(blind.status == 1, "stdout: \(blind.stdout)")
        #expect(blind.stdout.isEmpty, "\(blind.stdout)")
        #expect(blind.stderr.hasPrefix("cannot read the tickets database: "), "\(blind.stderr)")
        #expect(blind.stderr.hasSuffix("; nothing requeued: the dead notifications cannot be weighed against their tickets. "
                                       + "Try again (a lock held by the app passes), or requeue without weighing with --force\n"), "\(blind.stderr)")
        #expect(try [status(1), status(4)] == ["dead", "dead"])
        let forcedAll = try runOverdued(["queue", "retry", "--dead", "--force", "--config", config])
        #expect(forcedAll.status == 0 && forcedAll.stdout == "requeued 4 dead notification(s)\n", "\(forcedAll.stdout) \(forcedAll.stderr)")
        #expect(try [status(1), status(4)] == ["retrying", "retrying"])
    }

    /// `queue resume NAME` ends a receiver's pause before its time, and makes the
    /// notifications it refused due now; a destination that is not paused is said to be so.
    @Test func resumeEndsAReceiversPause() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let state = folder.url("state.sqlite")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try sqlite3(state, """
            INSERT INTO receiver_pause (destination, until_at, http_status, set_at, receiver)
                VALUES ('hook', \(now + 3_600_000), 503, \(now), 'http://127.0.0.1:9');
            UPDATE notification SET status = 'retrying', attempts = 1, last_http_status = 503, next_attempt_at = \(now + 3_600_000) WHERE ticket = 1;
            """)
        let resumed = try runOverdued(["queue", "resume", "hook", "--config", config])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.hasPrefix("hook: the wait its receiver asked for (until "), "\(resumed.stdout)")
        #expect(resumed.stdout.contains(", HTTP 503) is over; 1 notification(s) it refused are due now; a running daemon sends to it again within 10s"),
                "\(resumed.stdout)")
        #expect(try sqlite3Output(state, "SELECT count(*) FROM receiver_pause").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let due = try sqlite3Output(state, "SELECT next_attempt_at <= \(Int64(Date().timeIntervalSince1970 * 1000)) FROM notification WHERE ticket = 1")
        #expect(due.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let again = try runOverdued(["queue", "resume", "hook", "--config", config])
        #expect(again.status == 1 && again.stderr == "hook is not paused by its receiver (see `overdued queue`)\n", "\(again.stderr)")
        let typo = try runOverdued(["queue", "resume", "hoook", "--config", config])
        #expect(typo.status == 1 && typo.stderr == "no destination named hoook; defined: hook\n", "\(typo.stderr)")
    }

    /// `queue` and `history` only look: they open the state database read-only. Beside
    /// another process's write (the daemon's, `import-legacy`'s) they answer at once rather
    /// than wait for it and fail (GRDB made an empty transaction of its own when the `-wal`
    /// was empty), and they write nothing to the file. `scan --dry-run` and `check-config` too.
    @Test func theCommandsThatOnlyLookWriteNothingAndWaitForNoWriter() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let state = folder.url("state.sqlite")
        try sqlite3(state, "UPDATE notification SET status = 'delivered', attempts = 1, delivered_at = created_at + 1000 WHERE ticket = 2;")
        let before = try Data(contentsOf: URL(fileURLWithPath: state))
        for arguments in [["queue"], ["history"], ["scan", "--dry-run"], ["check-config"]] {
            let result = try runOverdued(arguments + ["--config", config])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: state)) == before, "\(arguments) wrote to the file")
            let wal = try? FileManager.default.attributesOfItem(atPath: state + "-wal")[.size] as? Int
            #expect(wal == nil || wal == 0, "\(arguments) wrote to the -wal")
        }

        // Another process writes (its -wal still empty); busy_timeout is 1 s.
        let writer = try SQLiteShellSession(state, sql: "BEGIN IMMEDIATE;")
        defer { writer.end(with: "ROLLBACK;") }
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.status == 0, "stderr: \(queue.stderr)")
        #expect(queue.stdout.hasPrefix("pending 1, retrying 0, dead 0, delivered 1,"), "\(queue.stdout)")
        let history = try runOverdued(["history", "--config", config, "--json"])
        #expect(history.status == 0, "stderr: \(history.stderr)")
        #expect(history.stdout.contains("IGP-2026-0002"), "\(history.stdout)")
    }
}

/// A request marked as leaving shows as under way while a deliverer runs, and as cut off by
/// the end of its process otherwise, instead of "next attempt due now".
struct QueueUnderWayTests {
    @Test func aRequestUnderWayIsShownAsSuch() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let state = folder.url("state.sqlite")
        let id = try sqlite3Output(state, "SELECT id FROM notification ORDER BY rowid LIMIT 1").trimmingCharacters(in: .whitespacesAndNewlines)
        try sqlite3(state, "INSERT INTO attempt_started (notification_id, attempt, started_at) VALUES ('\(id)', 1, 1795533600000);")

        let stopped = try runOverdued(["queue", "--config", config])
        let line = stopped.stdout.split(separator: "\n").first { $0.contains(id) } ?? ""
        #expect(line.contains("attempt 1, sent at 2026-11-24T15:20:00.000Z, did not end (overdued stopped during it)"), "\(stopped.stdout)")
        #expect(!line.contains("next attempt"), "\(line)")

        let running = try DeliveryLock(stateDatabase: state)
        let listed = try runOverdued(["queue", "--config", config])
        #expect(listed.stdout.split(separator: "\n").first { $0.contains(id) }?.contains("under way: attempt 1, sent at 2026-11-24T15:20:00.000Z") == true,
                "\(listed.stdout)")
        let json = try runOverdued(["queue", "--json", "--config", config])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let marked = try #require(objects.first { $0["id"] as? String == id }?["attempt_under_way"] as? [String: Any])
        #expect(marked["attempt"] as? Int == 1 && marked["process_running"] as? Bool == true, "\(marked)")
        #expect(objects.filter { !($0["attempt_under_way"] is NSNull) }.count == 1, "only the marked one")
        withExtendedLifetime(running) {}
    }
}
