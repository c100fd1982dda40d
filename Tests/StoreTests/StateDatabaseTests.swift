import Foundation
import Synchronization
import GRDB
@testable import Store
import Testing
import TestSupport

struct StateDatabaseTests {
    static let migrations = ["v1: outbox, attempts, dedup", "v2: due index covers the delivery order",
                             "v3: dedup generation", "v4: dead notifications indexed",
                             "v5: requeue gives a fresh retry budget", "v6: every scheduled date notified",
                             "v7: withdrawn notifications", "v8: receiver pauses",
                             "v9: notifications known without a row", "v10: attempts started",
                             "v11: receiver of an attempt started", "v12: ticket of a dedup record"]
    /// The notification table's columns up to v9 (v10 adds `interrupted_attempts`).
    static let v7Columns = "rowid, id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts, "
        + "last_http_status, last_error, delivered_at, dead_at, requeued_at, attempts_before_requeue, withdrawn_at"

    /// The notifier asks for due notifications after every delivery: that query must walk the
    /// due index in order, never sort the queue (all of one scan share next_attempt_at), and
    /// look for an older notification of each row's ticket in the index of open ones.
    @Test func dueNotificationsComeFromTheIndexWithoutASort() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        _ = try StateDatabase(path: path)
        let queue = try DatabaseQueue(path: path)
        let details = try queue.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT id FROM notification WHERE " + Outbox.dueCondition,
                             arguments: ["d", 1, 10]).map { $0[3] as String }
        }
        #expect(details.contains { $0.contains("USING INDEX notification_due") }, "\(details)")
        #expect(details.contains { $0.contains("USING INDEX notification_open") }, "\(details)")
        #expect(!details.contains { $0.contains("TEMP B-TREE") }, "\(details)")
    }

    /// A state database made by this version, then changed by `sql` (to stand for one an
    /// older or newer overdued wrote), closed again; its path.
    static func stateDatabase(in directory: TemporaryDirectory, changedBy sql: String) throws -> String {
        let path = directory.url("state.sqlite")
        _ = try StateDatabase(path: path)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
        return path
    }

    /// A state database as a release that stopped at `migration` made it, still open.
    static func stateDatabase(in directory: TemporaryDirectory, upTo migration: String) throws -> (String, DatabaseQueue) {
        let path = directory.url("state.sqlite")
        let queue = try DatabaseQueue(path: path)
        try StateDatabase.migrator.migrate(queue, upTo: migration)
        return (path, queue)
    }

    @Test func migrationsAreAppliedAndTheJournalIsWAL() throws {
        let directory = try TemporaryDirectory()
        let database = try StateDatabase(path: directory.url("state.sqlite"))
        #expect(try database.appliedMigrations() == Self.migrations)
        #expect(try database.journalMode() == "wal")
    }

    @Test func reopeningIsIdempotentAndKeepsTheData() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        do {
            let outbox = Outbox(database: try StateDatabase(path: path))
            try outbox.enqueue([OverdueNotification(id: "msg_1", rule: "r", ticket: 1, ticketID: "IGP-1", destination: "d",
                                                    snapshot: Data("{}".utf8), createdAt: now)],
                               dedup: [DedupRecord(rule: "r", ticket: 1, lastNotifiedAt: now, scheduledDate: "2026-01-01",
                                                   assignedTo: 3, status: "received", priority: "high")])
        }
        for _ in 0..<3 {
            let database = try StateDatabase(path: path)
            #expect(try database.appliedMigrations() == Self.migrations)
            #expect(try database.journalMode() == "wal")
            let outbox = Outbox(database: database)
            #expect(try outbox.notification(id: "msg_1")?.ticketID == "IGP-1")
            #expect(try outbox.dedupRecords(rule: "r", tickets: [1])[1]?.assignedTo == 3)
        }
        // Two processes (here: two handles) may hold it open at once: the CLI beside the daemon.
        let daemon = Outbox(database: try StateDatabase(path: path))
        let cli = Outbox(database: try StateDatabase(path: path))
        try daemon.enqueue([OverdueNotification(id: "msg_2", rule: "r", ticket: 2, ticketID: "IGP-2", destination: "d",
                                                snapshot: Data("{}".utf8), createdAt: now)], dedup: [])
        #expect(try cli.counts().pending == 2)
    }

    /// A database of the version before v5 (made here by taking away what v5 and v6 add) is
    /// upgraded in place: its notifications keep their attempts and count as never requeued,
    /// and a dead one can then be requeued with a fresh budget.
    @Test func aDatabaseOfTheVersionBeforeIsUpgraded() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        _ = try StateDatabase(path: path)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                DROP INDEX notification_withdrawn;
                ALTER TABLE notification DROP COLUMN withdrawn_at;
                ALTER TABLE notification DROP COLUMN requeued_at;
                ALTER TABLE notification DROP COLUMN attempts_before_requeue;
                DROP TABLE dedup_scheduled_date;
                DROP TABLE receiver_pause;
                DROP TABLE attempt_started;
                ALTER TABLE notification DROP COLUMN interrupted_attempts;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v5:%' OR identifier LIKE 'v6:%' OR identifier LIKE 'v7:%'
                                               OR identifier LIKE 'v8:%' OR identifier LIKE 'v10:%' OR identifier LIKE 'v11:%';
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at,
                                          attempts, last_http_status, last_error, dead_at)
                VALUES ('msg_old', 'r', 1, 'IGP-1', 'd', '{}', 'dead', 1795000000000, 1795000000000, 3, 503, 'gave up', 1795000060000);
                """)
        }
        try queue.close()

        let database = try StateDatabase(path: path)
        #expect(try database.appliedMigrations() == Self.migrations)
        let outbox = Outbox(database: database)
        let old = try #require(try outbox.notification(id: "msg_old"))
        #expect((old.status, old.attempts, old.requeuedAt, old.attemptsBeforeRequeue) == (.dead, 3, nil, 0))
        #expect(try outbox.requeue(id: "msg_old", now: now.addingTimeInterval(3_600)))
        let requeued = try #require(try outbox.notification(id: "msg_old"))
        #expect((requeued.status, requeued.attempts) == (.retrying, 3))
        #expect(requeued.requeuedAt == now.addingTimeInterval(3_600))
        #expect(requeued.attemptsBeforeRequeue == 3)
    }

    /// The caller hears of an upgrade before it runs (the daemon tells systemd to wait), with
    /// the migrations it applies; not of a new file's creation, nor of a file already current.
    @Test func anUpgradeIsAnnouncedBeforeItRuns() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        try StateDatabase.createAsEarlierRelease(path: path, upTo: "v8: receiver pauses")
        let heard = Mutex<[[String]]>([])
        let database = try StateDatabase(path: path) { migrations in heard.withLock { $0.append(migrations) } }
        let after = Array(StateDatabase.migrator.migrations.drop { $0 != "v9: notifications known without a row" })
        #expect(after.count >= 3 && heard.withLock { $0 } == [after])
        #expect(database.upgrades == heard.withLock { $0.first })
        _ = try StateDatabase(path: path) { _ in Issue.record("a current file is no upgrade") }
        _ = try StateDatabase(path: directory.url("new.sqlite")) { _ in Issue.record("a new file is no upgrade") }
    }

    /// v7 rebuilds the notification table (its status CHECK gains "withdrawn"): a database
    /// made by v6 keeps every row, column and rowid (the queue's order), its attempts and
    /// their cascade, and its indexes.
    @Test func aDatabaseOfV6IsRebuiltForWithdrawalsKeepingEveryRow() throws {
        let directory = try TemporaryDirectory()
        let (path, queue) = try Self.stateDatabase(in: directory, upTo: "v6: every scheduled date notified")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO notification (rowid, id, rule, ticket, ticket_id, destination, snapshot, status, created_at,
                                          next_attempt_at, attempts, last_http_status, last_error, delivered_at, dead_at,
                                          requeued_at, attempts_before_requeue)
                VALUES (7, 'msg_b', 'r', 2, 'IGP-2', 'd', '{"b":1}', 'retrying', 1795000000000, 1795000900000, 2, 503, 'busy', NULL, NULL, 1795000100000, 1),
                       (3, 'msg_a', 'r', 1, 'IGP-1', 'd', '{"a":1}', 'delivered', 1795000000000, 1795000000000, 1, 200, NULL, 1795000000500, NULL, NULL, 0),
                       (9, 'msg_c', 'r', 3, 'IGP-3', 'd', '{}', 'dead', 1795000000000, 1795000000000, 5, 410, 'gone', NULL, 1795000050000, NULL, 0);
                INSERT INTO delivery_attempt (notification_id, attempt, started_at, duration_ms, http_status, error, response_body, outcome)
                VALUES ('msg_b', 1, 1795000000000, 12, 503, 'busy', NULL, 'retry'), ('msg_a', 1, 1795000000000, 8, 200, NULL, 'ok', 'delivered');
                """)
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE notification SET status = 'withdrawn' WHERE id = 'msg_b'")
            }
        }
        let before = try queue.read { db in try Row.fetchAll(db, sql: "SELECT rowid, * FROM notification ORDER BY rowid") }
        try queue.close()

        let database = try StateDatabase(path: path)
        #expect(try database.appliedMigrations() == Self.migrations)
        #expect(database.upgrades == ["v7: withdrawn notifications", "v8: receiver pauses", "v9: notifications known without a row",
                                      "v10: attempts started", "v11: receiver of an attempt started", "v12: ticket of a dedup record"])
        #expect(database.upgradeNotice == "upgraded the state database \(path) (v7: withdrawn notifications, v8: receiver pauses, v9: notifications known without a row, v10: attempts started, v11: receiver of an attempt started, v12: ticket of a dedup record): earlier releases of overdued cannot open it any more")
        #expect(try StateDatabase(path: path).upgrades.isEmpty, "once")
        #expect(try StateDatabase(path: directory.url("new.sqlite")).upgrades.isEmpty, "a new file is not an upgrade")
        let check = try DatabaseQueue(path: path)
        try check.write { db in
            let after = try Row.fetchAll(db, sql: """
                SELECT rowid, id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts,
                       last_http_status, last_error, delivered_at, dead_at, requeued_at, attempts_before_requeue
                FROM notification ORDER BY rowid
                """)
            #expect(after == before)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery_attempt") == 2)
            let indexes = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notification' AND sql IS NOT NULL ORDER BY name")
            #expect(indexes == ["notification_created", "notification_dead", "notification_due", "notification_open",
                                "notification_ticket", "notification_withdrawn"])
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            try db.execute(sql: "UPDATE notification SET status = 'withdrawn', withdrawn_at = 1 WHERE id = 'msg_b'")
            try db.execute(sql: "DELETE FROM notification WHERE id = 'msg_a'")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery_attempt") == 1, "attempts still go with their notification")
        }
        try check.close()
        let outbox = Outbox(database: database)
        #expect(try outbox.notification(id: "msg_b")?.status == .withdrawn)
    }

    /// v9 keeps, beside the dedup state, what no notification row backs (imported, or pruned
    /// before v9): those records and dates become the past a withdrawal goes back to; one
    /// backed by a row does not.
    @Test func aDatabaseOfV8KeepsTheNotificationsWithoutARowAsThePast() throws {
        let directory = try TemporaryDirectory()
        let (path, queue) = try Self.stateDatabase(in: directory, upTo: "v8: receiver pauses")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts)
                VALUES ('msg_d', 'r', 2, 'IGP-2', 'hook', '{"scheduled_date":"2026-11-02"}', 'delivered', 1795000000000, 1795000000000, 1);
                INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source) VALUES
                    ('r', 1, 1794000000000, '2026-11-01', 7, 'received', 'high', 'legacy'),
                    ('r', 2, 1795000000000, '2026-11-02', 8, 'diagnostic', NULL, 'scan');
                INSERT INTO dedup_scheduled_date (rule, ticket, scheduled_date, notified_at) VALUES
                    ('r', 1, '2026-11-01', 1794000000000), ('r', 2, '2026-11-02', 1795000000000);
                """)
        }
        try queue.close()

        let database = try StateDatabase(path: path)
        #expect(try database.appliedMigrations() == Self.migrations)
        #expect(database.upgrades == ["v9: notifications known without a row", "v10: attempts started", "v11: receiver of an attempt started", "v12: ticket of a dedup record"])
        let check = try DatabaseQueue(path: path)
        try check.read { db in
            let past = try Row.fetchAll(db, sql: """
                SELECT ticket, past_notified_at, past_scheduled_date, past_assigned_to, past_status, past_priority, past_source
                FROM dedup_state ORDER BY ticket
                """)
            #expect(past == [
                ["ticket": 1, "past_notified_at": 1_794_000_000_000, "past_scheduled_date": "2026-11-01", "past_assigned_to": 7,
                 "past_status": "received", "past_priority": "high", "past_source": "legacy"],
                ["ticket": 2, "past_notified_at": nil, "past_scheduled_date": nil, "past_assigned_to": nil,
                 "past_status": nil, "past_priority": nil, "past_source": nil],
            ])
            #expect(try Row.fetchAll(db, sql: "SELECT ticket, past_notified_at FROM dedup_scheduled_date ORDER BY ticket")
                    == [["ticket": 1, "past_notified_at": 1_794_000_000_000], ["ticket": 2, "past_notified_at": nil]])
        }
        try check.close()
    }

    /// v12 names the ticket of each dedup record by its human id, taken from the notification
    /// the record describes; a record no row backs (imported, pruned) is left without one.
    @Test func aDatabaseOfV11NamesTheTicketOfEachDedupRecordItCan() throws {
        let directory = try TemporaryDirectory()
        let (path, queue) = try Self.stateDatabase(in: directory, upTo: "v11: receiver of an attempt started")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts)
                VALUES ('msg_e', 'r', 2, 'IGP-2', 'hook', '{}', 'delivered', 1795000000000, 1795000000000, 1),
                       ('msg_f', 'r', 3, 'IGP-OLD-3', 'hook', '{}', 'delivered', 1794000000000, 1794000000000, 1),
                       ('msg_g', 'r', 3, 'IGP-3', 'hook', '{}', 'delivered', 1795000000000, 1795000000000, 1);
                INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source) VALUES
                    ('r', 1, 1794000000000, '2026-11-01', 7, 'received', 'high', 'legacy'),
                    ('r', 2, 1795000000000, '2026-11-02', 8, 'diagnostic', NULL, 'scan'),
                    ('r', 3, 1795000000000, '2026-11-03', 8, 'diagnostic', NULL, 'scan');
                """)
        }
        try queue.close()

        let database = try StateDatabase(path: path)
        #expect(database.upgrades == ["v12: ticket of a dedup record"])
        let records = try Outbox(database: database).dedupRecords(rule: "r", tickets: [1, 2, 3])
        #expect(records.mapValues(\.ticketID) == [1: nil as String?, 2: "IGP-2", 3: "IGP-3"])
    }

    /// v8 adds the receivers' pauses to a database made by v7 (a queue of the previous
    /// release): its notifications and attempts stay as they were, no destination is paused,
    /// and a pause can be recorded, read and removed.
    @Test func aDatabaseOfV7GainsReceiverPausesKeepingItsQueue() throws {
        let directory = try TemporaryDirectory()
        let (path, queue) = try Self.stateDatabase(in: directory, upTo: "v7: withdrawn notifications")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts,
                                          last_http_status, last_error)
                VALUES ('msg_q', 'r', 1, 'IGP-1', 'hook', '{}', 'retrying', 1795000000000, 1795000900000, 1, 503, 'HTTP 503');
                INSERT INTO delivery_attempt (notification_id, attempt, started_at, duration_ms, http_status, error, outcome)
                VALUES ('msg_q', 1, 1795000000000, 12, 503, 'HTTP 503', 'retry');
                """)
            #expect(try db.tableExists("receiver_pause") == false)
        }
        let before = try queue.read { db in try Row.fetchAll(db, sql: "SELECT \(Self.v7Columns) FROM notification ORDER BY rowid") }
        try queue.close()

        let database = try StateDatabase(path: path)
        #expect(try database.appliedMigrations() == Self.migrations)
        #expect(database.upgrades == ["v8: receiver pauses", "v9: notifications known without a row", "v10: attempts started",
                                      "v11: receiver of an attempt started", "v12: ticket of a dedup record"])
        let outbox = Outbox(database: database)
        #expect(try outbox.receiverPauses().isEmpty)
        #expect(try outbox.notification(id: "msg_q")?.status == .retrying)
        #expect(try outbox.attempts(notificationID: "msg_q").map(\.httpStatus) == [503])
        let after = try DatabaseQueue(path: path).read { db in try Row.fetchAll(db, sql: "SELECT \(Self.v7Columns) FROM notification ORDER BY rowid") }
        #expect(after == before)
        #expect(try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT interrupted_attempts FROM notification") } == 0)

        let setAt = Date(timeIntervalSince1970: 1_795_000_000)
        let pause = ReceiverPause(destination: "hook", until: setAt.addingTimeInterval(120), httpStatus: 503, setAt: setAt,
                                  receiver: "https://hooks.example.com")
        try outbox.recordReceiverPause(pause)
        #expect(try StateDatabase(path: path).upgrades.isEmpty, "once")
        #expect(try Outbox(database: StateDatabase(path: path)).receiverPause(destination: "hook") == pause, "kept in the file")
        // Two refusals in flight may be written in either order: the later end stays.
        var earlier = pause
        earlier.until = setAt.addingTimeInterval(60)
        try outbox.recordReceiverPause(earlier)
        #expect(try outbox.receiverPause(destination: "hook") == pause)
        // Removing the pause that ended at 60 s leaves the one that ends later.
        try outbox.removeReceiverPause(destination: "hook", endingBy: earlier.until)
        #expect(try outbox.receiverPause(destination: "hook") == pause)
        try outbox.removeReceiverPause(destination: "hook", endingBy: pause.until)
        #expect(try outbox.receiverPauses().isEmpty)
        // A repointed destination's new pause replaces the old receiver's, even if shorter.
        try outbox.recordReceiverPause(pause)
        var repointed = earlier
        repointed.receiver = "https://other.example.com"
        try outbox.recordReceiverPause(repointed)
        #expect(try outbox.receiverPauses() == [repointed])
        try outbox.removeReceiverPause(destination: "hook")
        #expect(try outbox.receiverPause(destination: "hook") == nil)
    }

    /// v6 remembers every scheduled date notified; a database from before it starts with the
    /// date of each ticket's last notification, which is all it knew.
    @Test func theScheduledDatesOfADatabaseBeforeV6AreSeededFromItsDedupState() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.stateDatabase(in: directory, changedBy: """
            DROP TABLE dedup_scheduled_date;
            DELETE FROM grdb_migrations WHERE identifier LIKE 'v6:%';
            INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date) VALUES
                ('r', 1, 1795000000000, '2026-11-20 08:00:00'), ('r', 2, 1795000000000, NULL);
            """)
        let outbox = Outbox(database: try StateDatabase(path: path))
        #expect(try outbox.notifiedScheduledDates(rule: "r", tickets: [1, 2]) == [1: ["2026-11-20 08:00:00"]])
    }

    @Test func aFileThatIsNotADatabaseCannotBeOpened() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("state.sqlite", String(repeating: "not a database ", count: 100))
        #expect {
            _ = try StateDatabase(path: path)
        } throws: { error in
            (error as? StoreError)?.kind == .cannotOpen && (error as? StoreError)?.path == path
        }
    }

    /// Another process holding the file a moment (here an exclusive lock for 1.5 s) is waited
    /// for in rounds of the busy timeout, as every other command does, not reported as a
    /// problem.
    @Test func checkWaitsForAStateDatabaseLockedAMoment() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        _ = try StateDatabase(path: path)
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        other.arguments = ["-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('PRAGMA locking_mode = EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE'); c.execute('DELETE FROM receiver_pause')
            open(sys.argv[1] + '.held', 'w').close(); time.sleep(1.5); c.execute('COMMIT'); c.close()
            """, path]
        try other.run()
        defer { other.waitUntilExit() }
        let started = Date()
        while !FileManager.default.fileExists(atPath: path + ".held"), Date().timeIntervalSince(started) < 10 { usleep(10_000) }
        // Five rounds of 50 ms and the pauses between them: about half a second, within the lock.
        #expect(StateDatabaseCheck.problem(path: path, busyTimeout: .milliseconds(50))?.contains("locked") == true)
        // Five rounds of 400 ms and the pauses: about 2.2 s, as long as `queue` would wait; the
        // lock goes within it (no single round of 400 ms would have waited long enough).
        #expect(StateDatabaseCheck.problem(path: path, busyTimeout: .milliseconds(400)) == nil)
    }

    @Test func checkAcceptsANewPathInAWritableFolderAndAnExistingDatabase() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        #expect(StateDatabaseCheck.problem(path: path) == nil)
        #expect(!FileManager.default.fileExists(atPath: path), "the check must not create the database")
        _ = try StateDatabase(path: path)
        #expect(StateDatabaseCheck.problem(path: path) == nil)
        let garbage = try directory.write("garbage.sqlite", String(repeating: "x", count: 4096))
        #expect(StateDatabaseCheck.problem(path: garbage) != nil)
        #expect(StateDatabaseCheck.problem(path: directory.url("missing-folder/state.sqlite")) != nil)
    }

    /// A newer overdued may have changed the schema in ways this one does not know: refuse
    /// to open its database, rather than read and write it blindly.
    @Test func aDatabaseWrittenByANewerOverduedIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.stateDatabase(in: directory, changedBy: """
            INSERT INTO grdb_migrations (identifier) VALUES ('v9: from the future'), ('v10: later still')
            """)
        #expect {
            _ = try StateDatabase(path: path)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.path == path && error.description.hasPrefix(path)
                && error.message.contains(#"(migrations "v9: from the future", "v10: later still" unknown"#)
                && error.message.contains("written by a newer overdued") && error.message.contains("refusing to run an older one on it")
        }
        let problem = try #require(StateDatabaseCheck.problem(path: path), "check-config says so too")
        #expect(problem.contains(path) && problem.contains("v9: from the future") && problem.contains("newer overdued"))
        // Nothing was written: the migrations table is as the newer version left it.
        let identifiers = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
        #expect(identifiers == Self.migrations + ["v9: from the future", "v10: later still"])
    }

    /// The commands that only look (`history`, `queue`) refuse it from their read-only open:
    /// the read-write one wrote to the file first (the SQLite library's set-up), and told a
    /// user who may only read it that the file was not writable, instead of why.
    @Test func aLookOnlyOpenRefusesANewerDatabaseWithoutWritingIt() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.stateDatabase(in: directory, changedBy: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: path)
        #expect {
            _ = try StateDatabase(path: path, lookingOnly: true)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .schema && error.message.contains("written by a newer overdued (migration \"v99: from the future\" unknown")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "not written")
    }

    /// An open SQLite handle keeps working on a deleted or replaced file; the daemon asks
    /// whether the path still names the file it opened.
    @Test func aDeletedOrReplacedFileIsNoticed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let database = try StateDatabase(path: path)
        #expect(database.fileChange() == nil)
        _ = try StateDatabase(path: directory.url("other.sqlite"))
        #expect(rename(directory.url("other.sqlite"), path) == 0)
        #expect(database.fileChange() == .replaced)
        #expect(unlink(path) == 0)
        #expect(database.fileChange() == .deleted)
    }

    /// A read that opens a new connection after the file was deleted says so, rather than
    /// SQLite's "unable to open database file" (seen in the daemon's log, before its own check
    /// of the file stopped it).
    @Test func aReadAfterTheFileWasDeletedSaysSo() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let outbox = Outbox(database: try StateDatabase(path: path))
        #expect(try outbox.counts().pending == 0)
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        outbox.database.releaseMemory()
        do {
            _ = try outbox.counts()
            Issue.record("read a deleted file")
        } catch {
            #expect(error.kind == .cannotOpen)
            #expect(error.description.hasSuffix("the file was deleted or moved away after overdued opened it"), "\(error)")
        }
    }

    /// The `-wal` and `-shm` of a file a deliverer holds, deleted under it: another command
    /// opening it would write into a new log the deliverer never sees, while the deliverer's
    /// close copies its own into the file (the ops audit: `rm` of both, then `scan`, left it
    /// "malformed"). Refused until the deliverer has gone; with none, opened as usual.
    @Test(arguments: [false, true]) func anotherCommandDoesNotOpenAFileWhoseLogWasDeletedUnderItsDeliverer(lookingOnly: Bool) throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        var lock: DeliveryLock? = try DeliveryLock(stateDatabase: path)
        var deliverer: StateDatabase? = try StateDatabase(path: path)
        try Outbox(database: try #require(deliverer)).enqueue([OverdueNotification(id: "msg_1", rule: "r", ticket: 1, ticketID: "T1",
                                                                                destination: "d", snapshot: Data("{}".utf8), createdAt: Date())], dedup: [])
        #expect(try StateDatabase(path: path, upgradingBesideADeliverer: false, lookingOnly: lookingOnly).upgrades.isEmpty, "both logs there")
        for suffix in ["-wal", "-shm"] { #expect(unlink(path + suffix) == 0) }
        do {
            _ = try StateDatabase(path: path, upgradingBesideADeliverer: false, lookingOnly: lookingOnly)
            Issue.record("opened beside a deliverer whose log was deleted")
        } catch {
            #expect(error.kind == .inUse)
            #expect(error.message.hasPrefix("its state.sqlite-wal and state.sqlite-shm are gone while an overdued process (pid \(getpid())) delivers from it"),
                    "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the refusal made no new log")
        // The deliverer stops: its close copies its log into the file, which then opens with every record.
        _ = deliverer?.close()
        deliverer = nil
        lock = nil
        let reopened = Outbox(database: try StateDatabase(path: path, upgradingBesideADeliverer: false, lookingOnly: lookingOnly))
        #expect(try reopened.counts().pending == 1)
        withExtendedLifetime(lock) {}
    }

    /// Its `-wal` or `-shm` deleted (a clean-up of the folder): the handle goes on with the
    /// deleted ones, which no other process sees any more. Noticed like the file itself.
    @Test(arguments: ["-wal", "-shm"])
    func aDeletedLogIsNoticed(suffix: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let database = try StateDatabase(path: path)
        #expect(FileManager.default.fileExists(atPath: path + suffix))
        #expect(database.fileChange() == nil)
        #expect(unlink(path + suffix) == 0)
        #expect(database.fileChange() == .logGone("state.sqlite" + suffix))
        #expect(database.fileChange()?.description == "lost its state.sqlite\(suffix) (deleted or replaced)")
    }

    /// A package upgraded, the service not restarted yet: the earlier release delivers from
    /// the file. This release's commands (`history`, `queue`, `scan`…) do not upgrade it
    /// under that process and say so; the deliverers (holding the lock) and a file nobody
    /// delivers from are upgraded as before.
    @Test func aFileAnEarlierReleaseDeliversFromIsNotUpgradedUnderIt() throws {
        let directory = try TemporaryDirectory()
        // The earlier release's daemon: the lock, and the file open in WAL mode (its -wal and
        // -shm there for as long as it runs).
        let (path, queue) = try Self.stateDatabase(in: directory, upTo: "v8: receiver pauses")
        try queue.close()
        let earlierDaemon = try DatabasePool(path: path)
        try earlierDaemon.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM notification") }
        let running = try DeliveryLock(stateDatabase: path)
        #expect(throws: StoreError.self) { try StateDatabase(path: path, upgradingBesideADeliverer: false) }
        do {
            _ = try StateDatabase(path: path, upgradingBesideADeliverer: false)
        } catch {
            #expect(error.kind == .inUse)
            #expect(error.message.contains("written by an earlier release of overdued (it lacks migration \"v9: notifications known without a row\")"),
                    "\(error.message)")
            #expect(error.message.contains("(pid \(getpid())) delivers from it now") && error.message.contains("Restart the service onto this release first")
                    && error.message.hasSuffix("If that process is already this release's daemon, it is upgrading the file now (a large one takes minutes): wait for \"upgraded the state database\" in its log"),
                    "\(error.message)")
            #expect(!error.message.contains("  "), "one line, no runs of spaces")
        }
        let untouched = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(!untouched.contains("v9: notifications known without a row"))
        // The lock's holder itself (the new daemon, after the restart) upgrades it.
        let daemon = try StateDatabase(path: path)
        #expect(daemon.upgrades == ["v9: notifications known without a row", "v10: attempts started", "v11: receiver of an attempt started", "v12: ticket of a dedup record"])
        // Up to date: nothing to upgrade, so any command works beside the daemon.
        #expect(try StateDatabase(path: path, upgradingBesideADeliverer: false).upgrades.isEmpty)
        try earlierDaemon.close()
        withExtendedLifetime((running, daemon)) {}
    }

    /// `close()` says why part of the log stayed out of the file, for the stop's notice: a
    /// reader (or a writer) in the way is named as another process using it; nil when all of it went in.
    @Test func closeSaysWhyTheLogStayedOut() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let clean = try StateDatabase(path: path)
        #expect(clean.close() == nil)
        let database = try StateDatabase(path: path)
        try Outbox(database: database).enqueue([OverdueNotification(id: "msg_1", rule: "r", ticket: 1, ticketID: "IGP-1", destination: "d",
                                                                    snapshot: Data("{}".utf8), createdAt: Date())], dedup: [])
        let reader = try DatabaseQueue(path: path)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM notification")
            #expect(database.close() == "another process was using it")
            try db.execute(sql: "COMMIT")
        }
        try reader.close()
    }

    /// Under the unit's PrivateUsers=yes every owner but the service's own shows as 65534:
    /// the message says so instead of naming "uid 65534" as the owner.
    @Test func anOwnerShownAsTheOverflowIdIsExplained() {
        #expect(StateFileAccess.outsideNamespace(65_534).contains("PrivateUsers=yes"))
        #expect(StateFileAccess.outsideNamespace(0).isEmpty && StateFileAccess.outsideNamespace(999).isEmpty)
    }

    /// Only one process delivers from a state database: a second lock fails at once, naming
    /// the database and the holder; the lock ends with its holder.
    @Test func theDeliveryLockIsExclusiveAndNamesItsHolder() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        var first: DeliveryLock? = try DeliveryLock(stateDatabase: path)
        #expect(first?.path == path + ".lock")
        #expect {
            _ = try DeliveryLock(stateDatabase: path)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .inUse && error.description.hasPrefix(path) && error.message.contains("pid \(getpid())")
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the lock does not touch the database")
        first = nil
        #expect(throws: Never.self) { _ = try DeliveryLock(stateDatabase: path) }
    }

    /// The question "does a deliverer hold the lock?" asked by several processes at once (three
    /// `scan`s on a file another is still migrating) gets "no" for each: asking takes a shared
    /// lock, so the askers do not see each other as deliverers. (They did, with an exclusive
    /// try: one of three concurrent scans on a new file refused, "an overdued process delivers
    /// from it now".) A deliverer is still seen, by name.
    @Test func askingWhetherADelivererHoldsTheLockIsNotHoldingIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        #expect(throws: Never.self) { try DeliveryLock.refuseIfHeld(stateDatabase: path) }
        #expect(!FileManager.default.fileExists(atPath: path + ".lock"), "asking creates nothing")
        _ = try DeliveryLock(stateDatabase: path)   // the file exists now, unlocked
        // Another asker, at this instant: its shared lock on the file.
        let asker = open(path + ".lock", O_RDONLY | O_CLOEXEC)
        #expect(asker >= 0 && flock(asker, LOCK_SH | LOCK_NB) == 0)
        #expect(throws: Never.self) { try DeliveryLock.refuseIfHeld(stateDatabase: path) }
        close(asker)
        let deliverer = try DeliveryLock(stateDatabase: path)
        #expect {
            try DeliveryLock.refuseIfHeld(stateDatabase: path)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .inUse && error.message.contains("pid \(getpid())")
        }
        withExtendedLifetime(deliverer) {}
    }

    /// A deliverer starting while another command asks (its shared lock, held for
    /// microseconds) waits for the question to end instead of refusing as if a deliverer ran;
    /// an asker that never lets go is told apart from a deliverer.
    @Test func aDelivererStartingWhileAnotherCommandAsksWaitsForTheQuestion() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        _ = try DeliveryLock(stateDatabase: path)   // the file exists now, unlocked
        let asker = open(path + ".lock", O_RDONLY | O_CLOEXEC)
        #expect(asker >= 0 && flock(asker, LOCK_SH | LOCK_NB) == 0)
        let released = Thread {
            usleep(300_000)
            close(asker)
        }
        released.start()
        var deliverer: DeliveryLock? = try DeliveryLock(stateDatabase: path)
        #expect(deliverer?.isAtItsPath() == true)

        let probe = open(path + ".lock", O_RDONLY | O_CLOEXEC)
        defer { close(probe) }
        #expect(DeliveryLock.lockExclusively(probe, askersGrace: .milliseconds(50)) == .heldByDeliverer)
        deliverer = nil

        let stubbornAsker = open(path + ".lock", O_RDONLY | O_CLOEXEC)
        defer { close(stubbornAsker) }
        #expect(flock(stubbornAsker, LOCK_SH | LOCK_NB) == 0)
        #expect(DeliveryLock.lockExclusively(probe, askersGrace: .milliseconds(50)) == .heldByAskers)
    }

    /// A lock whose file was deleted keeps no one out (a new file is locked at the path): the
    /// holder can tell, which is what the daemon checks.
    @Test func aHolderKnowsWhenItsLockFileWasDeleted() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("state.sqlite")
        let held = try DeliveryLock(stateDatabase: path)
        #expect(held.isAtItsPath())
        unlink(held.path)
        #expect(!held.isAtItsPath())
        let second = try DeliveryLock(stateDatabase: path)
        #expect(second.isAtItsPath())
        #expect(!held.isAtItsPath())
    }
}

/// What keeps the state database from being written, in words an operator acts on.
struct StateFileAccessTests {
    @Test func aFolderThatIsGoneIsSaidToBeGoneNotUnwritable() throws {
        let folder = try TemporaryDirectory()
        let problem = try #require(StateFileAccess.problem(stateDatabase: folder.url("gone/state.sqlite")))
        #expect(problem.hasPrefix("the folder \(folder.url("gone")) does not exist (any more)"), "\(problem)")
        #expect(!problem.contains("not writable"), "\(problem)")
        #expect(StateFileAccess.problem(stateDatabase: folder.url("state.sqlite")) == nil)
    }
}

/// A file system the kernel remounted read-only after a disk error fails a running daemon's
/// writes as "disk I/O error" or "attempt to write a readonly database": the message says
/// the file system is read-only, which is what the operator acts on. (Such a
/// remount cannot be made under a process that has a file open for writing: the mapping is
/// tested on a read-only mount.)
struct ReadOnlyFileSystemErrorTests {
    /// Root, and the right to mount (not every container gives it).
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = NSTemporaryDirectory() + "/overdued-ro-probe-\(getpid())"
        defer { _ = umount(probe); try? FileManager.default.removeItem(atPath: probe) }
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        return mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe])
    }()

    @Test(.enabled(if: canMount, "needs root and the right to mount a tmpfs"))
    func writesRefusedOnAReadOnlyFileSystemSaySo() throws {
        let folder = try TemporaryDirectory()
        let mounted = folder.url("ro")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try #require(Self.mount(["-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", mounted]))
        defer { _ = umount(mounted) }
        let path = mounted + "/state.sqlite"
        let io = StoreError.from(DatabaseError(resultCode: .SQLITE_IOERR, message: "disk I/O error"), path: path, doing: "record delivery attempts")
        #expect(io.kind == .io)
        #expect(io.message == "could not record delivery attempts: disk I/O error: the file system holding it is read-only "
            + "(mounted so, or remounted so by the kernel after a disk error: see `dmesg`)")
        let readOnly = StoreError.from(DatabaseError(resultCode: .SQLITE_READONLY, message: "attempt to write a readonly database"),
                                       path: path, doing: "enqueue")
        #expect(readOnly.message.hasSuffix("the file system holding it is read-only (mounted so, or remounted so by the kernel after a disk error: see `dmesg`)"))
        // The tickets database's folder is read-only by design (the unit's ProtectSystem=strict):
        // no disk error to hint at.
        let tickets = StoreError.from(DatabaseError(resultCode: .SQLITE_IOERR, message: "disk I/O error"), path: path, doing: "read",
                                      writable: false)
        #expect(tickets.message == "could not read: disk I/O error")
        // Elsewhere, the error as SQLite gave it.
        let writable = StoreError.from(DatabaseError(resultCode: .SQLITE_IOERR, message: "disk I/O error"), path: folder.url("state.sqlite"),
                                       doing: "record delivery attempts")
        #expect(writable.message == "could not record delivery attempts: disk I/O error")
    }

    static func mount(_ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

/// SQLite cannot size a new -shm on a full file system, and the failed open removes what it
/// made: by the time the file system is looked at, some space may show again. Nearly full, it
/// is still a full disk (a start waits for space instead of exiting; system test); on a roomy
/// file system it is an I/O error, which waiting does not heal.
struct ShmSizeErrorTests {
    @Test(.enabled(if: ReadOnlyFileSystemErrorTests.canMount, "needs root and the right to mount a tmpfs"))
    func aShmThatCannotBeSizedOnANearlyFullFileSystemIsAFullOne() throws {
        let folder = try TemporaryDirectory()
        let small = folder.url("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        try #require(ReadOnlyFileSystemErrorTests.mount(["-t", "tmpfs", "-o", "size=512k", "tmpfs", small]))
        defer { _ = umount(small) }
        let error = StoreError.from(DatabaseError(resultCode: .SQLITE_IOERR_SHMSIZE, message: "disk I/O error"),
                                    path: small + "/state.sqlite", doing: "open the state database")
        #expect(error.kind == .full)
        #expect(error.message == "could not open the state database: disk I/O error: SQLite could not size the -shm file beside it, "
            + "as on a file system that is full; free some")
    }

    @Test func aShmThatCannotBeSizedOnARoomyFileSystemIsAnIOError() throws {
        let folder = try TemporaryDirectory()
        let error = StoreError.from(DatabaseError(resultCode: .SQLITE_IOERR_SHMSIZE, message: "disk I/O error"),
                                    path: folder.url("state.sqlite"), doing: "open the state database")
        #expect(error.kind == .io)
        #expect(error.message == "could not open the state database: disk I/O error")
    }
}

/// An upgrade that fails by itself (a full disk half-way through v7's rewrite) is said at once:
/// every open round began it again, whole (minutes on a large file, while the daemon keeps
/// systemd waiting), five times before the error came out.
struct FailedUpgradeTests {
    @Test(.enabled(if: ReadOnlyFileSystemErrorTests.canMount, "needs root and the right to mount a tmpfs"))
    func anUpgradeThatMeetsAFullDiskIsTriedOnce() throws {
        let folder = try TemporaryDirectory()
        let (original, queue) = try StateDatabaseTests.stateDatabase(in: folder, upTo: "v6: every scheduled date notified")
        try queue.write { db in
            try db.execute(sql: """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts)
                SELECT 'msg_' || i, 'r', i, 'IGP-' || i, 'd', printf('%.1000c', 'x'), 'pending', 1795000000000, 1795000000000, 0 FROM n
                """)
        }
        try queue.close()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: original)[.size] as? Int)
        let small = folder.url("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        // Room for the file and a little more: not for a second copy of its notification table.
        try #require(ReadOnlyFileSystemErrorTests.mount(["-t", "tmpfs", "-o", "size=\(size / 1024 + 512)k", "tmpfs", small]))
        defer { _ = umount(small) }
        let path = small + "/state.sqlite"
        try FileManager.default.copyItem(atPath: original, toPath: path)
        let begun = Mutex(0)
        #expect {
            _ = try StateDatabase(path: path) { _ in begun.withLock { $0 += 1 } }
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.kind == .full && error.message.hasPrefix("could not upgrade the state database")
        }
        #expect(begun.withLock { $0 } == 1, "begun once, not at each open round")
    }
}
