import Foundation
import Store
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Two processes delivering from one state database would each send every due notification:
/// `run` and `once` hold its delivery lock; the commands that look or enqueue stay usable.
@Suite(.serialized) struct SingleDelivererTests {
    @Test func onceAndASecondRunAreRefusedWhileTheDaemonDelivers() async throws {
        let setup = try await ReceivingSetup(interval: "1h")
        let (folder, sink, received, config) = (setup.folder, setup.sink, setup.received, setup.config)
        defer { Task { await sink.stop() } }
        let state = folder.url("state.sqlite")
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")

        let once = try runOverdued(["once", "--config", config, "--max-wait", "2s"], timeout: 30)
        #expect(once.status == 1, "stdout: \(once.stdout) stderr: \(once.stderr)")
        #expect(once.stderr.contains(state) && once.stderr.contains("pid \(daemon.pid)") && once.stderr.contains("already delivering"),
                "\(once.stderr)")
        let second = try runOverdued(["run", "--config", config], timeout: 30)
        #expect(second.status == 1)
        #expect(second.stderr.contains(state) && second.stderr.contains("pid \(daemon.pid)"), "\(second.stderr)")

        for command in [["scan", "--dry-run"], ["scan"], ["queue"], ["history"], ["queue", "retry", "--dead"]] {
            let result = try runOverdued(command + ["--config", config], timeout: 30)
            #expect(result.status == 0, "\(command) beside the daemon: \(result.stderr)")
        }
        // Every notification arrived once: nothing was sent by a second deliverer.
        let deadline = Date().addingTimeInterval(10)
        while Set(received.all).count < 8, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Set(received.all).count == 8)
        #expect(received.all.count == Set(received.all).count, "sent twice: \(received.all)")

        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        // The lock ended with its holder.
        let after = try runOverdued(["once", "--config", config, "--max-wait", "2s"], timeout: 30)
        #expect(after.status == 0, "\(after.stderr)")
    }

    /// A daemon on an empty tickets database, ticking hourly, once its first tick is done.
    static func daemonAfterItsFirstTick() throws -> (TemporaryDirectory, config: String, DaemonChild) {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        return (folder, config, daemon)
    }

    /// `<state>.lock` deleted under the daemon (a clean-up of the state folder): the daemon
    /// locks the path again within seconds, so a later `once` is still refused.
    @Test func aDeletedLockFileIsLockedAgain() throws {
        let (folder, config, daemon) = try Self.daemonAfterItsFirstTick()
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        let lock = folder.url("state.sqlite.lock")
        unlink(lock)
        #expect(daemon.waitFor("the delivery lock \(lock) was deleted or replaced while overdued was running; locked it again"),
                "log: \(daemon.log)")
        let once = try runOverdued(["once", "--config", config, "--max-wait", "2s"], timeout: 30)
        #expect(once.status == 1 && once.stderr.contains("pid \(daemon.pid)"), "\(once.stderr)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    /// The lock is looked at by the ticks, the status refresh and the notifier, from
    /// different threads: deleted again and again, it is locked again each time, and the
    /// daemon never takes its own new lock for another process's.
    @Test func aLockFileDeletedOverAndOverIsLockedAgainWithoutAFalseAlarm() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1s"))
        let daemon = try DaemonChild(config: config, environment: [:])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        for _ in 0..<40 {
            unlink(folder.url("state.sqlite.lock"))
            usleep(100_000)
        }
        Self.expectNoFalseAlarmAndACleanStop(daemon)
    }

    /// The daemon never blamed another process for its lock, and stops with exit 0.
    static func expectNoFalseAlarmAndACleanStop(_ daemon: DaemonChild) {
        #expect(!daemon.log.contains("another process locked it"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0, "log: \(daemon.log)")
    }

    /// A lock path that cannot be locked again (a folder put there) keeps everyone else out
    /// as well: the daemon says so once and goes on, rather than blame another process.
    @Test func aLockPathThatCannotBeLockedAgainIsWarnedAboutAndDeliveryGoesOn() throws {
        let (folder, _, daemon) = try Self.daemonAfterItsFirstTick()
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        let lock = folder.url("state.sqlite.lock")
        unlink(lock)
        try FileManager.default.createDirectory(atPath: lock, withIntermediateDirectories: false)
        #expect(daemon.waitFor("cannot be made again"), "log: \(daemon.log)")
        // A tick checks the lock again: still said once.
        let ticks = daemon.occurrences(of: "tick: ")
        daemon.signal(SIGUSR1)
        #expect(daemon.waitFor("tick: ", count: ticks + 1), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "cannot be made again") == 1, "log: \(daemon.log)")
        Self.expectNoFalseAlarmAndACleanStop(daemon)
    }

    /// If another process locked the new file first, two would deliver: the daemon stops
    /// with an error and leaves the other alone.
    @Test func aDaemonWhoseLockWasTakenOverStopsWithAnError() throws {
        let (folder, _, daemon) = try Self.daemonAfterItsFirstTick()
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        let state = folder.url("state.sqlite")
        unlink(state + ".lock")
        let other = try DeliveryLock(stateDatabase: state)
        let status = daemon.waitForExit(timeout: 20)
        #expect(status != nil && status != 0, "exit status \(String(describing: status)); log: \(daemon.log)")
        #expect(daemon.log.contains("the delivery lock \(state).lock was deleted or replaced, and another process locked it"),
                "log: \(daemon.log)")
        #expect(other.isAtItsPath())
    }
}

/// A state database deleted (or replaced) under the running daemon: it must not go on
/// writing into a file nobody will open again, but stop with an error so that systemd
/// restarts it on a fresh one.
@Suite(.serialized) struct LostStateDatabaseTests {
    @Test func aDeletedStateDatabaseStopsTheDaemonWithAnError() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(interval: "1s"))
        let state = folder.url("state.sqlite")
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        for suffix in ["", "-wal", "-shm"] { unlink(state + suffix) }
        let status = daemon.waitForExit(timeout: 20)
        #expect(status != nil && status != 0, "exit status \(String(describing: status)); log: \(daemon.log)")
        #expect(daemon.occurrences(of: "critical overdued: the state database \(state) was deleted or moved away while overdued was running") == 1, "said once: \(daemon.log)")
        #expect(!daemon.log.contains("unable to open database file"), "log: \(daemon.log)")
    }

    /// A state database replaced while the daemon runs (a backup moved into place): the
    /// daemon stops with an error and takes its write-ahead log with it. Left beside the new
    /// file, the old log was replayed onto it at the restart: the backup damaged, or silently
    /// overlaid with the old state.
    @Test func aReplacedStateDatabaseIsLeftWithoutTheOldLog() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1s"))
        let state = folder.url("state.sqlite")
        let backup = folder.url("backup.sqlite")
        // The backup: an empty state database of this version.
        #expect(try StateDatabase(path: backup).close() == nil)
        let daemon = try DaemonChild(config: config, environment: [:])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        #expect(daemon.waitFor("8 enqueued"), "log: \(daemon.log)")
        #expect(FileManager.default.fileExists(atPath: state + "-wal"))
        #expect(rename(backup, state) == 0)
        let status = daemon.waitForExit(timeout: 20)
        #expect(status != nil && status != 0, "log: \(daemon.log)")
        #expect(daemon.log.contains("was replaced by another file"), "log: \(daemon.log)")
        let left = (try? FileManager.default.attributesOfItem(atPath: state + "-wal"))?[.size] as? Int ?? 0
        #expect(left == 0, "the old file's log went into it: nothing left to replay onto the backup")
        #expect(try sqlite3Output(state, "PRAGMA integrity_check; SELECT count(*) FROM notification")
                    .split(separator: "\n") == ["ok", "0"], "the backup as it was")
    }

    /// Its `-wal` deleted (a clean-up of the folder): the daemon used to go on with the
    /// deleted log, every tick failing with "disk I/O error" and nothing delivered, while the
    /// watchdog was fed; a crash then lost everything the log held. It now stops with an
    /// error, after copying the log it still holds open into the file: nothing is lost. Seen
    /// between ticks too (an hour apart here), within seconds.
    @Test func aDeletedWriteAheadLogStopsTheDaemonWithEveryRecordKept() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let state = folder.url("state.sqlite")
        let daemon = try DaemonChild(config: config, environment: [:])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit(timeout: 10) }
        #expect(daemon.waitFor("8 enqueued"), "log: \(daemon.log)")
        #expect(unlink(state + "-wal") == 0)
        let status = daemon.waitForExit(timeout: 20)
        #expect(status != nil && status != 0, "log: \(daemon.log)")
        #expect(daemon.log.contains("the state database \(state) lost its state.sqlite-wal (deleted or replaced) while overdued was running"),
                "log: \(daemon.log)")
        #expect(try sqlite3Output(state, "SELECT count(*) FROM notification").trimmingCharacters(in: .whitespacesAndNewlines) == "8",
                "what the deleted log held went into the file")
    }

    /// A damaged state database does not heal by waiting: the daemon stops with an error (the
    /// unit then shows failed once systemd gave up restarting it) instead of only logging.
    @Test func aDamagedStateDatabaseStopsTheDaemonWithAnError() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1s"))
        let state = folder.url("state.sqlite")
        // Dedup records for every match, then the page that roots their table overwritten.
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        try overwriteRootPage(of: "dedup_state", in: state, folder: folder)

        let daemon = try DaemonChild(config: config, environment: [:])
        let status = daemon.waitForExit(timeout: 20)
        #expect(status != nil && status != 0, "exit status \(String(describing: status)); log: \(daemon.log)")
        #expect(daemon.log.contains("\(state): could not"), "log: \(daemon.log)")
        #expect(daemon.log.contains("COMMIT;/' | sqlite3 NEW_FILE"), "log: \(daemon.log)")

        // The rescue the message gives, run as it says: what the readable pages hold is kept
        // (a plain `.dump | sqlite3` kept nothing: the dump of a damaged file ends in ROLLBACK).
        let command = try #require(daemon.log.range(of: "rescue what it holds with `").map { start in
            daemon.log[start.upperBound...].prefix { $0 != "`" }
        })
        let rescued = folder.url("rescued.sqlite")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", command.replacingOccurrences(of: "NEW_FILE", with: rescued)]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        let kept = try sqlite3Output(rescued, "SELECT count(*) FROM notification").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(kept == "8", "the notifications' pages were readable: \(kept)")
    }
}

/// Damages a state database as a failing disk would: the page that roots `table` (after a
/// checkpoint, so that the file holds it) overwritten with garbage.
func overwriteRootPage(of table: String, in state: String, folder: TemporaryDirectory) throws {
    let found = folder.url("rootpage.txt")
    try sqlite3(state, "PRAGMA wal_checkpoint(TRUNCATE);\n.output \(found)\nSELECT rootpage FROM sqlite_master WHERE name = '\(table)';\n")
    let root = try #require(Int(String(decoding: try Data(contentsOf: URL(fileURLWithPath: found)), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)))
    let file = try #require(FileHandle(forUpdatingAtPath: state))
    try file.seek(toOffset: UInt64((root - 1) * 4096))
    try file.write(contentsOf: Data(repeating: 0xA5, count: 4096))
    try file.close()
}

/// The damage found by the notifier, not by a tick: a tick with nothing changed reads nothing
/// of the file, and the daemon went on ticking for ever, delivering nothing (its attempts kept
/// "to record later"), logging nothing more.
@Suite(.serialized) struct DamageFoundByDeliveriesTests {
    @Test func aStateDatabaseThatRefusesTheRecordsAsDamagedStopsTheDaemon() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        // The receiver's port refuses: each attempt fails at once, and its record is written.
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let state = folder.url("state.sqlite")
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        // The attempts' table (empty: one leaf page) overwritten; the queue and dedup state sound.
        try overwriteRootPage(of: "delivery_attempt", in: state, folder: folder)

        let daemon = try DaemonChild(config: config, environment: [:])
        let status = daemon.waitForExit(timeout: 30)
        #expect(status != nil && status != 0, "exit status \(String(describing: status)); log: \(daemon.log)")
        #expect(daemon.log.contains("cannot record the delivery attempt: \(state): could not"), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "stopping with an error: nothing can be enqueued or recorded until the file is repaired") == 1,
                "said once: \(daemon.log)")
    }

    /// The status line's counts read an index no delivery and no tick touches here (the dead
    /// notifications'): found damaged there, the daemon stops as well, instead of keeping the
    /// last counts for ever without a word (code review: the reads were `try?`).
    @Test func aStateDatabaseThatRefusesTheQueueCountsAsDamagedStopsTheDaemon() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let config = try folder.write("config.json", configJSON(interval: "1h"))
        let state = folder.url("state.sqlite")
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        try overwriteRootPage(of: "notification_dead", in: state, folder: folder)

        let daemon = try DaemonChild(config: config, environment: [:])
        let status = daemon.waitForExit(timeout: 30)
        #expect(status != nil && status != 0, "exit status \(String(describing: status)); log: \(daemon.log)")
        #expect(daemon.log.contains("\(state): could not count the queue"), "log: \(daemon.log)")
        #expect(daemon.occurrences(of: "stopping with an error: nothing can be enqueued or recorded until the file is repaired") == 1,
                "said once: \(daemon.log)")
    }
}

/// `history` and `queue` only look: with no state database yet they say so, exit 0, and
/// create nothing.
struct NoStateDatabaseYetTests {
    @Test func historyAndQueueDoNotCreateTheStateDatabase() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let state = folder.url("state.sqlite")
        for command in [["history"], ["queue"], ["history", "--json"], ["queue", "--json"], ["queue", "retry", "--dead"]] {
            let result = try runOverdued(command + ["--config", config], timeout: 30)
            #expect(result.status == 0, "\(command): \(result.stderr)")
            #expect((result.stdout + result.stderr).contains("no state database yet at \(state)"), "\(command): \(result.stdout) \(result.stderr)")
            if command.contains("--json") { #expect(result.stdout == "[]\n", "\(command): \(result.stdout)") }
        }
        let retry = try runOverdued(["queue", "retry", "msg_1", "--config", config], timeout: 30)
        #expect(retry.status == 1 && retry.stderr.contains("no state database yet at \(state)"), "\(retry.stderr)")
        #expect(try folder.fileNames() == ["config.json", "tickets.sqlite"], "nothing created")
    }

    /// No file, but a deliverer holds its lock: the file was deleted or moved away under it,
    /// and "nothing has been queued or sent" would be false (ops audit: said for 4 s while
    /// the daemon still delivered).
    @Test func noFileBesideADelivererIsSaidToBeGoneNotNew() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let state = folder.url("state.sqlite")
        let running = try DeliveryLock(stateDatabase: state)
        for command in [["history"], ["queue"], ["queue", "--json"], ["queue", "retry", "--dead"]] {
            let result = try runOverdued(command + ["--config", config], timeout: 30)
            #expect(result.status == 1, "\(command): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("no state database at \(state), though an overdued process (pid \(getpid())) delivers from one there"),
                    "\(command): \(result.stderr)")
            #expect(!result.stdout.contains("no state database yet"), "\(command): \(result.stdout)")
        }
        withExtendedLifetime(running) {}
    }
}

/// While the tickets database is missing, the daemon skips its ticks and keeps delivering: the
/// commands that read only the state database (`history`, `queue`, `queue retry`, `send-test`)
/// keep working, while those that read tickets (`check-config`, `scan`) still refuse the config.
struct NoTicketsDatabaseTests {
    @Test func historyAndQueueWorkWhileTheTicketsDatabaseIsMissing() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        let tickets = folder.url("tickets.sqlite")
        let state = folder.url("state.sqlite")
        try sqlite3(state, """
            UPDATE notification SET status = 'delivered', delivered_at = created_at WHERE ticket = 1;
            UPDATE notification SET status = 'dead', dead_at = created_at, last_error = 'HTTP 410' WHERE ticket = 2;
            """)
        let dead = try sqlite3Output(state, "SELECT id FROM notification WHERE ticket = 2").trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.removeItem(atPath: tickets)

        let history = try runOverdued(["history", "--config", config])
        #expect(history.status == 0 && history.stdout.contains("IGP-2026-0001 (#1)") && history.stdout.contains("IGP-2026-0002 (#2)"),
                "\(history.stdout) \(history.stderr)")
        let one = try runOverdued(["history", "--config", config, "--ticket", "IGP-2026-0002"])
        #expect(one.status == 0 && one.stdout.contains("IGP-2026-0002 (#2)") && !one.stdout.contains("#1"), "\(one.stdout) \(one.stderr)")
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.status == 0 && queue.stdout.hasPrefix("pending 0, retrying 0, dead 1, delivered 1"), "\(queue.stdout) \(queue.stderr)")
        // queue retry cannot weigh the notification against its ticket: it says so and
        // requeues nothing, unless told to with --force.
        let retry = try runOverdued(["queue", "retry", dead, "--config", config])
        #expect(retry.status == 1 && retry.stderr.hasPrefix("cannot read the tickets database: "), "\(retry.stdout) \(retry.stderr)")
        let forced = try runOverdued(["queue", "retry", dead, "--force", "--config", config])
        #expect(forced.status == 0 && forced.stdout == "requeued \(dead)\n", "\(forced.stdout) \(forced.stderr)")
        // send-test reads no ticket either: it gets as far as the destination (which refuses).
        let sendTest = try runOverdued(["send-test", "--config", config])
        #expect(sendTest.stdout.hasPrefix("hook (http://127.0.0.1:9): no response"), "\(sendTest.stdout) \(sendTest.stderr)")

        for command in [["check-config"], ["scan", "--dry-run"]] {
            let result = try runOverdued(command + ["--config", config])
            #expect(result.status == 1, "\(command): \(result.stdout)")
            #expect(result.stderr.contains("store.tickets_database: the tickets database \(tickets) does not exist"), "\(command): \(result.stderr)")
        }
    }
}

/// `store.history_retention` applies to a cron job of `overdued once` as to the daemon.
struct OnceHistoryPruningTests {
    @Test func onceDeletesHistoryPastItsRetention() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 3)
        let state = folder.url("state.sqlite")
        // Delivered 100 days ago (the default retention is 90 days); one of them delivered today.
        let old = Int64((Date().timeIntervalSince1970 - 100 * 86_400) * 1000)
        try sqlite3(state, """
            UPDATE notification SET status = 'delivered', created_at = \(old), delivered_at = \(old);
            UPDATE notification SET delivered_at = \(Int64(Date().timeIntervalSince1970 * 1000))
              WHERE rowid = (SELECT min(rowid) FROM notification);
            """)
        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"], timeout: 30)
        #expect(once.status == 0, "\(once.stdout) \(once.stderr)")
        #expect(once.stderr.contains("pruned 2 notification(s) older than 90d from the history"), "\(once.stderr)")
        #expect(try sqlite3Output(state, "SELECT count(*) FROM notification WHERE status = 'delivered'")
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }
}

/// The state database's files made by another user: root running `overdued once` by hand beside
/// a daemon that runs as its own user, or a folder the daemon may not write to. Each is named,
/// with its owner and mode, instead of SQLite's "attempt to write a readonly database".
@Suite(.enabled(if: getuid() == 0 && Unprivileged.prefix != nil, "needs root and setpriv"))
struct StateFilesOfAnotherUserTests {
    @Test func aStateFolderTheUserMayNotWriteIsNamedByCheckConfig() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        // The daemon's database, in a folder that is root's alone.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        for file in try folder.fileNames() {
            try FileManager.default.setAttributes([.ownerAccountID: 65534], ofItemAtPath: folder.url(file))
        }
        let result = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stderr.contains("the folder \(folder.path) is not writable by this user (owned by uid 0"), "\(result.stderr)")
    }

    /// A config whose state database lives in a folder of its own that belongs to uid 65534,
    /// as the service's does under `DynamicUser=` (mode 0700), beside `tickets` overdue tickets.
    static func servicesStateFolder(tickets: Int) throws -> (TemporaryDirectory, config: String, state: String) {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(tickets))
        let config = try folder.write("config.json", configJSON(state: "state/state.sqlite"))
        let state = folder.url("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700, .ownerAccountID: 65534, .groupOwnerAccountID: 65534])
        return (folder, config, state)
    }

    /// The service's state folder is its user's (`DynamicUser=`); root runs `scan` and `once`
    /// there by hand before the service ever did: what they create is the folder owner's, and
    /// the service (here `once` as that user) opens it.
    @Test func filesRootCreatesInTheServicesFolderAreTheServices() throws {
        let (folder, config, state) = try Self.servicesStateFolder(tickets: 2)
        defer { withExtendedLifetime(folder) {} }  // the folder is removed with it
        let scan = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"])
        #expect(scan.status == 0, "\(scan.stderr)")
        // Exit 2: queued days before the clock, the notifications to the refusing receiver are
        // given up at once; the point is that the run could use the files.
        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"])
        #expect(once.status == 0 || once.status == 2, "\(once.stderr)")
        for file in try FileManager.default.contentsOfDirectory(atPath: state) {
            let owner = try FileManager.default.attributesOfItem(atPath: state + "/" + file)[.ownerAccountID] as? Int
            #expect(owner == 65534, "\(file) is owned by \(owner.map(String.init) ?? "?")")
        }
        let service = try runOverdued(["once", "--config", config, "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"],
                                      prefix: Unprivileged.prefix ?? [])
        #expect(service.status == 0 || service.status == 2, "\(service.stderr)")
    }

    /// The folder's owner puts a symbolic link where the lock goes, to a file of root's: root's
    /// `once` refuses it, and neither writes through it nor gives the file away.
    @Test func aLockThatIsASymbolicLinkIsRefused() throws {
        let (folder, config, state) = try Self.servicesStateFolder(tickets: 1)
        let victim = folder.url("victim.txt")
        try Data("root's own\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: victim)
        try FileManager.default.createSymbolicLink(atPath: state + "/state.sqlite.lock", withDestinationPath: victim)
        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"])
        #expect(once.status == 1)
        #expect(once.stderr.contains("it is a symbolic link, which overdued does not follow"), "\(once.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root's own\n")
        #expect(try FileManager.default.attributesOfItem(atPath: victim)[.ownerAccountID] as? Int == 0)
    }

    /// The folder's owner puts a symbolic link where the state database goes, to another
    /// SQLite database of root's (in WAL mode, as an app's often is): root's commands, even
    /// `history` and `scan --dry-run`, refuse it, and neither add overdued's tables to that
    /// database nor create files beside it. A link to nothing is refused too, not taken for
    /// "no state database yet".
    @Test func aStateDatabaseThatIsASymbolicLinkIsRefused() throws {
        let (folder, config, state) = try Self.servicesStateFolder(tickets: 1)
        let other = folder.url("other-app.sqlite")
        try sqlite3(other, "PRAGMA journal_mode = WAL; CREATE TABLE secrets (x); INSERT INTO secrets VALUES ('root''s');")
        let before = try folder.bytes("other-app.sqlite")
        try FileManager.default.createSymbolicLink(atPath: state + "/state.sqlite", withDestinationPath: other)
        let commands = [["check-config"], ["history"], ["queue"], ["queue", "retry", "--dead"], ["queue", "resume", "hook"],
                        ["scan", "--dry-run"], ["scan", "--now", "2026-11-24T15:00:00Z"],
                        ["once", "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"]]
        for command in commands {
            let run = try runOverdued(command + ["--config", config])
            #expect(run.status == 1, "\(command): \(run.stdout)")
            #expect(run.stderr.contains("state/state.sqlite is a symbolic link, which overdued does not follow for its state database"),
                    "\(command): \(run.stderr)")
        }
        #expect(try folder.bytes("other-app.sqlite") == before)
        #expect(!FileManager.default.fileExists(atPath: other + "-wal") && !FileManager.default.fileExists(atPath: other + "-shm"))

        try FileManager.default.removeItem(atPath: other)
        for command in commands {
            let run = try runOverdued(command + ["--config", config])
            #expect(run.status == 1 && run.stderr.contains("is a symbolic link"), "\(command) with a link to nothing: \(run.stdout) \(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    /// A state database an earlier release made 0644 (under a shell's umask) holds names
    /// every user can read: check-config says so.
    @Test func aStateDatabaseEveryUserCanReadIsWarnedAbout() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 1)
        let state = folder.url("state.sqlite")
        #expect(try FileManager.default.attributesOfItem(atPath: state)[.posixPermissions] as? Int == 0o600)
        #expect(!(try runOverdued(["check-config", "--config", config]).stderr.contains("readable by every user")))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: state)
        let check = try runOverdued(["check-config", "--config", config])
        #expect(check.status == 0)
        #expect(check.stderr.contains("warning: store.state_database: \(state) is readable by every user (mode 0644): it holds ticket titles"),
                "\(check.stderr)")
    }

    @Test func aStateDatabaseRootCreatedIsNamedByTheDaemon() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 2)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s", "--now", "2026-11-24T15:00:00Z"])
        #expect(FileManager.default.fileExists(atPath: folder.url("state.sqlite.lock")), "\(once.stderr)")
        // The daemon, as its own user: the lock root left is locked read-only; the database
        // root made is not the daemon's to write, and the message says whose it is.
        let run = try runOverdued(["run", "--config", config], prefix: Unprivileged.prefix ?? [], timeout: 30)
        #expect(run.status == 1)
        #expect(!run.stderr.contains("cannot open the delivery lock"), "\(run.stderr)")
        #expect(run.stderr.contains("state.sqlite is neither readable nor writable by this user (owned by uid 0, mode 0600; this process runs as uid 65534)"),
                "\(run.stderr)")
        // A dry run by that user says the same (its look at the file's version must not
        // speak first, of "a readonly database").
        let dry = try runOverdued(["scan", "--dry-run", "--config", config], prefix: Unprivileged.prefix ?? [], timeout: 30)
        #expect(dry.status == 1)
        #expect(dry.stderr.contains("state.sqlite is neither readable nor writable by this user (owned by uid 0"), "\(dry.stderr)")
        // Readable by that user (a group reader, say): only writing is refused, and said so.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: folder.url("state.sqlite"))
        let reader = try runOverdued(["run", "--config", config], prefix: Unprivileged.prefix ?? [], timeout: 30)
        #expect(reader.stderr.contains("state.sqlite is not writable by this user (owned by uid 0, mode 0644"), "\(reader.stderr)")
    }
}

/// After a clean stop, the state database file holds everything: its write-ahead log was
/// copied in and emptied, so a copy of the file alone is a backup.
struct CleanStopCheckpointTests {
    @Test func aCleanStopLeavesTheStateInTheFileAlone() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 3)
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 15) == 0)
        let state = folder.url("state.sqlite")
        // Removed, or left empty when SQLite could not take the lock it deletes the file under.
        let wal = (try? FileManager.default.attributesOfItem(atPath: state + "-wal"))?[.size] as? Int ?? 0
        #expect(wal == 0, "\(wal) bytes left in the -wal: \(daemon.log)")
        let copy = folder.url("copy.sqlite")
        try FileManager.default.copyItem(atPath: state, toPath: copy)
        // The daemon may have queued the tickets again (dedup is 24 h; the scan was dated days ago).
        let count = try sqlite3Output(copy, "SELECT count(*) FROM notification").trimmingCharacters(in: .whitespacesAndNewlines)
        let whole = try sqlite3Output(state, "SELECT count(*) FROM notification").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(count == whole && (Int(count) ?? 0) >= 3, "the copy holds \(count) notification(s), the database \(whole): \(daemon.log)")
    }

    /// An operator's `sqlite3` shell reading the state database at the stop: the stop does not
    /// wait `busy_timeout` for it (it held writers back meanwhile), and says that the file alone
    /// is not the whole state then.
    @Test func aStopBesideAReaderDoesNotWaitForItAndSaysSo() throws {
        let folder = try TemporaryDirectory()
        let config = try queuedNotifications(in: folder, tickets: 3)
        _ = try folder.write("config.json", String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "\"busy_timeout\": \"1s\"", with: "\"busy_timeout\": \"12s\""))
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("event=tick"), "log: \(daemon.log)")
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        reader.arguments = ["-c", """
            import sqlite3, time
            db = sqlite3.connect(\(String(reflecting: folder.url("state.sqlite"))), isolation_level=None)
            db.execute("BEGIN"); db.execute("SELECT count(*) FROM notification").fetchall()
            print("reading", flush=True); time.sleep(30)
            """]
        let out = Pipe()
        reader.standardOutput = out
        try reader.run()
        defer { kill(reader.processIdentifier, SIGKILL); reader.waitUntilExit() }
        // "reading": the read transaction is open (without it, the stop meets no reader).
        let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        try #require(ready.hasPrefix("reading"), "the reader did not start: \(ready)")
        let stopping = Date()
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) == 0)
        #expect(Date().timeIntervalSince(stopping) < 6, "the stop waited \(Date().timeIntervalSince(stopping)) s")
        #expect(daemon.log.contains("could not be copied into") || !FileManager.default.fileExists(atPath: folder.url("state.sqlite") + "-wal"),
                "log: \(daemon.log)")
    }
}

/// A start on a full disk (the state database's folder): exiting was restarted within seconds,
/// five times, and left the unit failed, so freeing space started nothing. The
/// start waits instead, says why, and goes on once there is space; a stop ends the wait.
@Suite(.serialized) struct StartOnAFullDiskTests {
    @Test(.enabled(if: Tmpfs.available, "needs root and the right to mount a tmpfs"))
    func aStartOnAFullDiskWaitsForSpaceAndAStopEndsTheWait() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let mounted = folder.url("small")
        #expect(try mountTmpfs(at: mounted, size: "512k"))
        defer { _ = umount(mounted) }
        let config = try folder.write("config.json", configJSON(state: "small/state.sqlite", interval: "1h"))
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        let filler = try fillFileSystem(at: mounted)

        let stopped = try DaemonChild(config: config, environment: [:])
        #expect(stopped.waitFor("waiting for free space"), "log: \(stopped.log)")
        #expect(stopped.log.contains("the file system holding it is full (no space left)"), "log: \(stopped.log)")
        stopped.signal(SIGTERM)
        #expect(stopped.waitForExit(timeout: 10) == 0, "log: \(stopped.log)")
        #expect(stopped.log.contains("stopped while waiting for free space"), "log: \(stopped.log)")

        let waiting = try DaemonChild(config: config, environment: [:])
        #expect(waiting.waitFor("waiting for free space"), "log: \(waiting.log)")
        usleep(1_000_000)
        #expect(waiting.process.isRunning, "still waiting: \(waiting.log)")
        try FileManager.default.removeItem(atPath: filler)
        #expect(waiting.waitFor(" started: ", timeout: 20), "log: \(waiting.log)")
        #expect(waiting.log.contains("there is space again: starting"), "log: \(waiting.log)")
        #expect(waiting.occurrences(of: "waiting for free space") == 1, "said once: \(waiting.log)")
        waiting.signal(SIGTERM)
        #expect(waiting.waitForExit(timeout: 10) == 0)
    }
}
