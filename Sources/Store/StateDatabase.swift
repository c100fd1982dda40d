import Foundation
internal import GRDB

/// overdued's own database: the outbox of notifications, every delivery attempt, and the
/// dedup state. WAL, so the CLI (`history`, `queue`) reads while the daemon writes; a busy
/// timeout, so two writers wait instead of failing; versioned migrations, so an upgrade
/// never needs a manual step.
public final class StateDatabase: Sendable {
    public let path: String
    let pool: DatabasePool
    /// The migrations this open applied to a database an earlier overdued had made (empty for
    /// a new file or one already up to date): the file is theirs no more, and its owner
    /// should hear so.
    public let upgrades: [String]
    /// How long a write waits for another process's lock.
    let busyTimeout: Duration
    /// Opened read-only (`lookingOnly`): nothing may be written through it.
    let readingOnly: Bool
    /// How long its connections wait for another process's lock, now.
    private let lockWaits = StateLockWaits()
    /// The file opened (device and inode): an open SQLite handle keeps working on a deleted
    /// or replaced file, so whoever keeps it open checks the path still names it.
    private let opened: FileIdentity?
    /// Its `-wal` and `-shm` as this handle opened them. SQLite keeps them for as long as a
    /// connection is open (the writer's is, for the handle's life) and finds them by name: one
    /// deleted under it is made again, empty, by the next process, and from then on the two
    /// do not see each other's commits (the daemon stalled on "disk I/O error", a `scan`'s
    /// commit vanished).
    private let openedLog: (wal: FileIdentity?, shm: FileIdentity?)

    /// - Parameter upgradingBesideADeliverer: whether to upgrade a file of an earlier release
    ///   while another process delivers from it (holds its delivery lock). Only the
    ///   deliverers themselves (`run`, `once`, which hold the lock) do: any other command,
    ///   run beside a service still on the earlier release (a package upgraded, the service
    ///   not restarted yet), would change the file under it, and says so instead.
    /// - Parameter lookingOnly: the caller only reads (`history`, `queue`, `scan --dry-run`):
    ///   the file is opened read-only when it can be (see `openReadingOnly`), so the command
    ///   waits for no other process's write and writes nothing to the file, not even the
    ///   empty transaction GRDB makes on a `-wal` that is missing or empty. Otherwise (an
    ///   earlier release's file, say) it is opened as every other command opens it.
    /// - Parameter upgrading: called with the migrations an earlier release's file lacks, just
    ///   before they run (not for a new file): the upgrade of a large file takes minutes (v7
    ///   rewrites the notification table: 17 s for 300,000 notifications, 171 s for 1.5
    ///   million on a loaded 2-core machine), which the daemon tells the service manager.
    public init(path: String, busyTimeout: Duration = .seconds(5), upgradingBesideADeliverer: Bool = true,
                lookingOnly: Bool = false, upgrading: (@Sendable (_ migrations: [String]) -> Void)? = nil) throws(StoreError) {
        self.path = path
        self.busyTimeout = busyTimeout
        var configuration = Configuration()
        configuration.label = "state"
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // NORMAL is durable in WAL mode across application crashes; an OS crash or a power
            // loss can lose the last transactions (their pages not yet written by the kernel):
            // attempts then look "not sent" and go again, under the same webhook-id. What must
            // not be lost once a request may depend on it, a notification's enqueueing (lost,
            // the next tick would queue the ticket again under a new id), is committed with
            // `writeDurably`.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Statement journals (a multi-row INSERT keeps the pages it changes, to undo the
            // statement alone) and temporary b-trees stay in memory instead of files in
            // /var/tmp: they are bounded by one statement of `BulkInsert` or one query of the
            // CLI, and a file costs a write per page.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // After a checkpoint the write-ahead log is cut back to this size instead of
            // staying at the largest it ever was (a burst of deliveries, a long prune).
            try db.execute(sql: "PRAGMA journal_size_limit = 16777216")
        }
        if let problem = StateFileAccess.linkProblem(stateDatabase: path) {
            throw StoreError(.cannotOpen, path: path, message: "could not open the state database: \(problem)")
        }
        StateFileAccess.refuseLinksFromSQLite(stateDatabase: path)
        configuration.busyMode = LockWait.busyMode(timeout: busyTimeout) { [lockWaits] waited in lockWaits.giveUp(after: waited) }
        if !upgradingBesideADeliverer { try Self.refuseBesideALostLog(path: path) }
        if lookingOnly, let readOnly = try Self.openReadingOnly(path: path, configuration: configuration) {
            (pool, upgrades, readingOnly) = (readOnly, [], true)
            opened = FileIdentity(path: path)
            openedLog = (FileIdentity(path: path + "-wal"), FileIdentity(path: path + "-shm"))
            return
        }
        readingOnly = false
        StateFileAccess.createPrivately(stateDatabase: path)
        do {
            (pool, upgrades) = try Self.openMigrated(path: path, configuration: configuration,
                                                     upgradingBesideADeliverer: upgradingBesideADeliverer, upgrading: upgrading)
        } catch let error as DatabaseError where error.resultCode.primaryResultCode == .SQLITE_READONLY
                    || (error.resultCode.primaryResultCode == .SQLITE_CANTOPEN && StateFileAccess.problem(stateDatabase: path) != nil) {
            // SQLite's "attempt to write a readonly database" and "unable to open database
            // file" name neither the file nor why (another user's file, mode 0600).
            let why = StateFileAccess.problem(stateDatabase: path) ?? (error.message ?? "\(error.resultCode)")
            throw StoreError(.cannotOpen, path: path, message: "could not open the state database: \(why)")
        } catch {
            throw StoreError.from(error, path: path, doing: "open the state database")
        }
        opened = FileIdentity(path: path)
        openedLog = (FileIdentity(path: path + "-wal"), FileIdentity(path: path + "-shm"))
    }

    /// A deliverer keeps the file's `-wal` and `-shm` for as long as it runs (its connections
    /// stay open, and SQLite removes them only at the last close). Missing while one holds
    /// the delivery lock, they were deleted under it (a clean-up of the folder): this open
    /// would make new, empty ones, read the file without the deliverer's latest commits and
    /// write into a log the deliverer never sees, while the deliverer's close copies its own
    /// log into the file under them (seen: a `scan` right after `rm state.sqlite-wal
    /// state.sqlite-shm` left the file "malformed", and its notifications queued twice). The
    /// deliverer stops within seconds (`fileChange`), copying its log into the file, and the
    /// service restarts on it: refused until then.
    ///
    /// A deliverer starting (its lock taken, the file not opened yet) makes them within
    /// milliseconds: they are waited for up to `lostLogWait` before refusing. A file not in
    /// WAL mode (its header says so, read through SQLite's file layer: `SQLiteFile.isWAL`)
    /// has none to lose.
    static func refuseBesideALostLog(path: String) throws(StoreError) {
        let manager = FileManager.default
        func missing() -> [String] { ["-wal", "-shm"].filter { !manager.fileExists(atPath: path + $0) } }
        // At rest (nobody has the file open) neither is there: only a deliverer makes it a loss.
        guard !missing().isEmpty, SQLiteFile.isWAL(path), DeliveryLock.isHeld(stateDatabase: path) else { return }
        let deadline = ContinuousClock.now + Self.lostLogWait
        while !missing().isEmpty, ContinuousClock.now < deadline { usleep(20_000) }
        let gone = missing()
        guard !gone.isEmpty else { return }
        do {
            try DeliveryLock.refuseIfHeld(stateDatabase: path)
        } catch where error.kind == .inUse {
            let names = gone.map { (path as NSString).lastPathComponent + $0 }.joined(separator: " and ")
            throw StoreError(.inUse, path: path, message: "its \(names) \(gone.count == 1 ? "is" : "are") gone while an overdued "
                + "process\(DeliveryLock.holder(in: error)) delivers from it (deleted by hand, or by a clean-up of the folder?): opening "
                + "it now would read it without that process's latest records and write where that process does not look, damaging "
                + "the file. The daemon stops within seconds when that happens, copying its log into the file, and the service "
                + "restarts on it (an `overdued once` ends at its --max-wait); run this command again then")
        } catch {
            // The lock cannot be looked at any more: no deliverer to refuse beside.
        }
    }

    /// How long `refuseBesideALostLog` waits for a starting deliverer to make the logs.
    static let lostLogWait: Duration = .seconds(1)

    /// A read-only pool on the file, or nil where it cannot serve (the caller opens it as
    /// usual then): no file there, one that lacks a migration of this release's, or a failure
    /// to open or read it (with no process having the file open, a user who may not create its
    /// `-wal` and `-shm` in the folder). One a newer release wrote is refused (thrown), as the
    /// usual open would, without its write. Read through SQLite's
    /// locks, as other processes' commits land. Where no process had the file open, SQLite
    /// makes its `-wal` and `-shm` and, read-only, cannot remove them at the close: they stay,
    /// empty, given to the file's owner when root made them (SQLite does so). Reading the
    /// file as it stands instead (`immutable=1`) was tried and dropped: a writer starting
    /// meanwhile and copying its log into the file made the read fail as "malformed", or
    /// read wrong rows.
    private static func openReadingOnly(path: String, configuration: Configuration) throws(StoreError) -> DatabasePool? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var configuration = configuration
        configuration.readonly = true
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            let (newer, current) = try pool.read { db in
                (try Self.newerSchemaProblem(db), try Self.migrator.hasCompletedMigrations(db))
            }
            guard newer == nil, current else {
                try? pool.close()
                // Refused from here: the read-write open would write to the file first (the
                // SQLite library's set-up), and a user who may only read it would be told so
                // instead of why.
                if let newer { throw StoreError(.schema, path: path, message: newer) }
                return nil
            }
            return pool
        } catch let error as StoreError {
            throw error
        } catch {
            return nil
        }
    }

    /// The pool, with every migration applied. Two processes starting on a new (or older)
    /// file at the same instant (the daemon and a `scan`, two `once`) both see a migration
    /// missing and both run it: the second fails ("table notification already exists",
    /// "database is locked" while the other switches the file to WAL). Open and migrate again
    /// then, when the other has finished: it is a no-op on a migrated file.
    private static func openMigrated(path: String, configuration: Configuration, upgradingBesideADeliverer: Bool,
                                     upgrading: (@Sendable ([String]) -> Void)?) throws -> (DatabasePool, [String]) {
        try inOpenRounds {
            let pool = try DatabasePool(path: path, configuration: configuration)
            if let problem = try pool.read({ db in try Self.newerSchemaProblem(db) }) {
                throw StoreError(.schema, path: path, message: problem)
            }
            let before = try pool.read { db in try Self.migrator.appliedIdentifiers(db) }
            let pending = Self.migrator.migrations.filter { !before.contains($0) }
            if !upgradingBesideADeliverer, !before.isEmpty, let next = pending.first {
                do {
                    try DeliveryLock.refuseIfHeld(stateDatabase: path)
                } catch let error as StoreError where error.kind == .inUse {
                    throw StoreError(.inUse, path: path, message: "written by an earlier release of overdued (it lacks migration \"\(next)\"), "
                        + "and an overdued process\(DeliveryLock.holder(in: error)) delivers from it now: this release would upgrade the file under it. Restart "
                        + "the service onto this release first (systemctl restart overdued: the new daemon upgrades it), then run this "
                        + "command again. If that process is already this release's daemon, it is upgrading the file now (a large one "
                        + "takes minutes): wait for \"upgraded the state database\" in its log")
                }
            }
            if !before.isEmpty, !pending.isEmpty { upgrading?(pending) }
            do {
                try Self.migrator.migrate(pool)
            } catch let error as DatabaseError where !before.isEmpty
                        && [.SQLITE_FULL, .SQLITE_IOERR].contains(error.resultCode.primaryResultCode) {
                // The upgrade itself failed (a full disk, an I/O error): said at once, not
                // begun again in the next open rounds, each of which would run it whole
                // (minutes on a large file) while systemd is told to wait.
                throw StoreError.from(error, path: path, doing: "upgrade the state database")
            }
            let after = try pool.read { db in try Self.migrator.appliedMigrations(db) }
            return (pool, before.isEmpty ? [] : after.filter { !before.contains($0) })
        }
    }

    /// Opening the state database, again while it fails with a database error, five times at
    /// most (each waiting the busy timeout, then 20, 40, … ms): another process may hold the
    /// file a while (a migration, the recovery of its write-ahead log after a crash).
    /// `check-config` opens it the same way, and says what every other command would.
    static func inOpenRounds<Opened>(_ open: () throws -> Opened) throws -> Opened {
        let rounds = 5
        var round = 1
        while true {
            do {
                return try open()
            } catch is DatabaseError where round < rounds {
                usleep(useconds_t(20_000 * round))
                round += 1
            }
        }
    }

    /// What happened to the files this handle opened, when `path` (or its `-wal` or `-shm`)
    /// no longer names them.
    public enum FileChange: Equatable, Sendable, CustomStringConvertible {
        case deleted
        case replaced
        /// Its `-wal` or `-shm` (the name) was deleted or replaced: the file itself is still
        /// there, and a clean close copies what the log held into it.
        case logGone(String)

        public var description: String {
            switch self {
            case .deleted: "was deleted or moved away"
            case .replaced: "was replaced by another file"
            case .logGone(let name): "lost its \(name) (deleted or replaced)"
            }
        }
    }

    /// Nil while `path`, `-wal` and `-shm` still name the files this handle opened; else what
    /// happened. Four `stat` calls' worth of work.
    public func fileChange() -> FileChange? {
        guard let opened else { return nil }
        guard let current = FileIdentity(path: path) else { return .deleted }
        guard current == opened else { return .replaced }
        for (suffix, identity) in [("-wal", openedLog.wal), ("-shm", openedLog.shm)] {
            guard let identity else { continue }
            if FileIdentity(path: path + suffix) != identity {
                return .logGone((path as NSString).lastPathComponent + suffix)
            }
        }
        return nil
    }

    /// A state database as a release that stopped at `migration` made it (tests of upgrades).
    static func createAsEarlierRelease(path: String, upTo migration: String) throws {
        let queue = try DatabaseQueue(path: path)
        try migrator.migrate(queue, upTo: migration)
        try queue.close()
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: outbox, attempts, dedup") { db in
            try db.execute(sql: """
                CREATE TABLE notification (
                    id TEXT PRIMARY KEY NOT NULL,
                    rule TEXT NOT NULL,
                    ticket INTEGER NOT NULL,
                    ticket_id TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    snapshot TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
                    created_at INTEGER NOT NULL,
                    next_attempt_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_http_status INTEGER,
                    last_error TEXT,
                    delivered_at INTEGER,
                    dead_at INTEGER
                );
                CREATE INDEX notification_due ON notification (destination, next_attempt_at)
                    WHERE status IN ('pending', 'retrying');
                CREATE INDEX notification_ticket ON notification (ticket, created_at);
                CREATE INDEX notification_open ON notification (rule, ticket, destination)
                    WHERE status IN ('pending', 'retrying');
                CREATE INDEX notification_created ON notification (created_at);

                CREATE TABLE delivery_attempt (
                    id INTEGER PRIMARY KEY,
                    notification_id TEXT NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    duration_ms INTEGER NOT NULL,
                    http_status INTEGER,
                    error TEXT,
                    response_body TEXT,
                    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead'))
                );
                CREATE INDEX delivery_attempt_notification ON delivery_attempt (notification_id, attempt);

                -- Kept apart from the notifications so that pruning history never re-arms a ticket.
                CREATE TABLE dedup_state (
                    rule TEXT NOT NULL,
                    ticket INTEGER NOT NULL,
                    last_notified_at INTEGER NOT NULL,
                    scheduled_date TEXT,
                    assigned_to INTEGER,
                    status TEXT,
                    priority TEXT,
                    source TEXT NOT NULL DEFAULT 'scan',
                    PRIMARY KEY (rule, ticket)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: due index covers the delivery order") { db in
            // Every notification of one scan shares its next_attempt_at; without created_at in
            // the index each `due()` sorted the whole queue (a drain was quadratic).
            try db.execute(sql: """
                DROP INDEX notification_due;
                CREATE INDEX notification_due ON notification (destination, next_attempt_at, created_at)
                    WHERE status IN ('pending', 'retrying');
                """)
        }
        migrator.registerMigration("v3: dedup generation") { db in
            // A counter that every change to dedup_state moves, whoever makes it (a tick, an
            // `import-legacy`, an operator's sqlite3): the daemon skips a tick whose inputs it
            // can prove unchanged, and this is how it knows the dedup state is.
            try db.execute(sql: """
                CREATE TABLE dedup_generation (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    value INTEGER NOT NULL
                );
                INSERT INTO dedup_generation (id, value) VALUES (1, 0);
                CREATE TRIGGER dedup_state_inserted AFTER INSERT ON dedup_state
                    BEGIN UPDATE dedup_generation SET value = value + 1 WHERE id = 1; END;
                CREATE TRIGGER dedup_state_updated AFTER UPDATE ON dedup_state
                    BEGIN UPDATE dedup_generation SET value = value + 1 WHERE id = 1; END;
                CREATE TRIGGER dedup_state_deleted AFTER DELETE ON dedup_state
                    BEGIN UPDATE dedup_generation SET value = value + 1 WHERE id = 1; END;
                """)
        }
        migrator.registerMigration("v4: dead notifications indexed") { db in
            // The status line counts the dead after every tick; without an index of them alone
            // that was a scan of the whole history (months of snapshots).
            try db.execute(sql: "CREATE INDEX notification_dead ON notification (created_at) WHERE status = 'dead'")
        }
        migrator.registerMigration("v5: requeue gives a fresh retry budget") { db in
            // `queue retry` gives a dead notification its retry budget again: max_attempts and
            // give_up_after count from the requeue, while `attempts` goes on counting (the
            // history keeps every attempt number). Rows of older versions: never requeued.
            try db.execute(sql: """
                ALTER TABLE notification ADD COLUMN requeued_at INTEGER;
                ALTER TABLE notification ADD COLUMN attempts_before_requeue INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v6: every scheduled date notified") { db in
            // `once_per_scheduled_date` is one notification per (ticket, scheduled_date value):
            // a date moved back to one already notified is not new. dedup_state keeps only
            // the last date; this keeps each one. Seeded with the dates dedup_state knows.
            try db.execute(sql: """
                CREATE TABLE dedup_scheduled_date (
                    rule TEXT NOT NULL,
                    ticket INTEGER NOT NULL,
                    scheduled_date TEXT NOT NULL,
                    notified_at INTEGER NOT NULL,
                    PRIMARY KEY (rule, ticket, scheduled_date)
                ) WITHOUT ROWID;
                INSERT INTO dedup_scheduled_date (rule, ticket, scheduled_date, notified_at)
                    SELECT rule, ticket, scheduled_date, last_notified_at FROM dedup_state WHERE scheduled_date IS NOT NULL;
                CREATE TRIGGER dedup_scheduled_date_inserted AFTER INSERT ON dedup_scheduled_date
                    BEGIN UPDATE dedup_generation SET value = value + 1 WHERE id = 1; END;
                CREATE TRIGGER dedup_scheduled_date_deleted AFTER DELETE ON dedup_scheduled_date
                    BEGIN UPDATE dedup_generation SET value = value + 1 WHERE id = 1; END;
                """)
        }
        migrator.registerMigration("v7: withdrawn notifications", foreignKeyChecks: .deferred) { db in
            // A queued notification whose ticket no longer matches its rule (closed,
            // rescheduled, reassigned while the receiver was down) is withdrawn, not sent.
            // The status is a CHECK constraint, which SQLite cannot alter: the table is
            // rebuilt, rowids kept (they are the queue's order of insertion).
            try db.execute(sql: """
                CREATE TABLE notification_v7 (
                    id TEXT PRIMARY KEY NOT NULL,
                    rule TEXT NOT NULL,
                    ticket INTEGER NOT NULL,
                    ticket_id TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    snapshot TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead', 'withdrawn')),
                    created_at INTEGER NOT NULL,
                    next_attempt_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_http_status INTEGER,
                    last_error TEXT,
                    delivered_at INTEGER,
                    dead_at INTEGER,
                    requeued_at INTEGER,
                    attempts_before_requeue INTEGER NOT NULL DEFAULT 0,
                    withdrawn_at INTEGER
                );
                INSERT INTO notification_v7 (rowid, id, rule, ticket, ticket_id, destination, snapshot, status, created_at,
                                             next_attempt_at, attempts, last_http_status, last_error, delivered_at, dead_at,
                                             requeued_at, attempts_before_requeue)
                    SELECT rowid, id, rule, ticket, ticket_id, destination, snapshot, status, created_at,
                           next_attempt_at, attempts, last_http_status, last_error, delivered_at, dead_at,
                           requeued_at, attempts_before_requeue
                    FROM notification ORDER BY rowid;
                DROP TABLE notification;
                ALTER TABLE notification_v7 RENAME TO notification;
                CREATE INDEX notification_due ON notification (destination, next_attempt_at, created_at)
                    WHERE status IN ('pending', 'retrying');
                CREATE INDEX notification_ticket ON notification (ticket, created_at);
                CREATE INDEX notification_open ON notification (rule, ticket, destination)
                    WHERE status IN ('pending', 'retrying');
                CREATE INDEX notification_created ON notification (created_at);
                CREATE INDEX notification_dead ON notification (created_at) WHERE status = 'dead';
                CREATE INDEX notification_withdrawn ON notification (created_at) WHERE status = 'withdrawn';
                """)
        }
        migrator.registerMigration("v8: receiver pauses") { db in
            // A 429 or 503 with Retry-After pauses its whole destination; kept here so that a
            // restart (the daemon, the next `once`) does not send into the same refusal. One
            // row a destination; `receiver` is where it pointed (scheme, host, port: never a
            // path, query, userinfo or header, which may hold secrets).
            try db.execute(sql: """
                CREATE TABLE receiver_pause (
                    destination TEXT PRIMARY KEY NOT NULL,
                    until_at INTEGER NOT NULL,
                    http_status INTEGER NOT NULL,
                    set_at INTEGER NOT NULL,
                    receiver TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v9: notifications known without a row") { db in
            // A withdrawal gives the dedup state back to the newest notification not
            // withdrawn; those no longer in the notification table (imported by
            // `import-legacy`, or pruned by `history_retention`) are kept here, so that they
            // still count. Seeded with the records and dates no notification row backs.
            try db.execute(sql: """
                ALTER TABLE dedup_state ADD COLUMN past_notified_at INTEGER;
                ALTER TABLE dedup_state ADD COLUMN past_scheduled_date TEXT;
                ALTER TABLE dedup_state ADD COLUMN past_assigned_to INTEGER;
                ALTER TABLE dedup_state ADD COLUMN past_status TEXT;
                ALTER TABLE dedup_state ADD COLUMN past_priority TEXT;
                ALTER TABLE dedup_state ADD COLUMN past_source TEXT;
                ALTER TABLE dedup_scheduled_date ADD COLUMN past_notified_at INTEGER;
                UPDATE dedup_state SET past_notified_at = last_notified_at, past_scheduled_date = scheduled_date,
                    past_assigned_to = assigned_to, past_status = status, past_priority = priority, past_source = source
                WHERE NOT EXISTS (SELECT 1 FROM notification AS n INDEXED BY notification_ticket
                                  WHERE n.ticket = dedup_state.ticket AND n.created_at = dedup_state.last_notified_at
                                    AND n.rule = dedup_state.rule);
                UPDATE dedup_scheduled_date SET past_notified_at = notified_at
                WHERE NOT EXISTS (SELECT 1 FROM notification AS n INDEXED BY notification_ticket
                                  WHERE n.ticket = dedup_scheduled_date.ticket AND n.created_at = dedup_scheduled_date.notified_at
                                    AND n.rule = dedup_scheduled_date.rule);
                """)
        }
        migrator.registerMigration("v10: attempts started") { db in
            // An attempt is written here before its request leaves, and goes with its record.
            // A row left behind is an attempt whose process ended before its answer was
            // recorded (a crash, SIGKILL, power loss): the next deliverer counts it as failed,
            // so that a notification whose answer crashes overdued is retried with backoff and
            // given up, instead of crashing every restart. `interrupted_attempts` counts such
            // attempts in a row (an attempt with an outcome sets it back to 0).
            try db.execute(sql: """
                CREATE TABLE attempt_started (
                    notification_id TEXT PRIMARY KEY NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    started_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                ALTER TABLE notification ADD COLUMN interrupted_attempts INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v11: receiver of an attempt started") { db in
            // Where each marked request went (scheme, host, port: as `receiver_pause` keeps
            // it): crashes at a receiver the destination no longer points to are not counted
            // against the new one, nor pause it. NULL in marks written before: not known.
            // `interrupted_receiver`: where the streak of `interrupted_attempts` went, so that it
            // starts again at another receiver.
            try db.execute(sql: """
                ALTER TABLE attempt_started ADD COLUMN receiver TEXT;
                ALTER TABLE notification ADD COLUMN interrupted_receiver TEXT;
                """)
        }
        migrator.registerMigration("v12: ticket of a dedup record") { db in
            // tickets.id is the key, but an app's database restored from a backup hands ids out
            // again: the human id (`tickets.ticket_id`) the record was written for tells a new
            // ticket under an old id from the one notified. Filled from the notification each
            // record describes; NULL where none is left (imported, pruned): not compared.
            try db.execute(sql: """
                ALTER TABLE dedup_state ADD COLUMN ticket_id TEXT;
                ALTER TABLE dedup_state ADD COLUMN past_ticket_id TEXT;
                UPDATE dedup_state SET ticket_id = (
                    SELECT n.ticket_id FROM notification AS n INDEXED BY notification_ticket
                    WHERE n.ticket = dedup_state.ticket AND n.created_at = dedup_state.last_notified_at
                      AND n.rule = dedup_state.rule LIMIT 1);
                """)
        }
        return migrator
    }

    /// Why this binary must not use the database, or nil: migrations it does not know were
    /// applied, by a newer overdued. An older binary would read and write a schema it does
    /// not know (and the newer one would later find rows it never wrote).
    static func newerSchemaProblem(_ db: Database) throws -> String? {
        // In the order they were made: "v10" after "v9".
        let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted { left, right in
            func number(_ name: String) -> Int { Int(name.dropFirst().prefix { $0.isNumber }) ?? Int.max }
            return (number(left), left) < (number(right), right)
        }
        guard !unknown.isEmpty else { return nil }
        let names = unknown.map { "\"\($0)\"" }.joined(separator: ", ")
        return "written by a newer overdued (migration\(unknown.count == 1 ? "" : "s") \(names) unknown to this version); "
            + "refusing to run an older one on it"
    }

    /// Gives back SQLite's page caches: the writer's at once, the readers' as they become
    /// free (they are closed and reopened on demand), without blocking anyone.
    public func releaseMemory() {
        pool.releaseMemoryEventually()
    }

    /// The notice for `upgrades`, nil when there were none.
    public var upgradeNotice: String? {
        guard !upgrades.isEmpty else { return nil }
        return "upgraded the state database \(path) (\(upgrades.joined(separator: ", "))): earlier releases of overdued cannot open it any more"
    }

    /// Names of the applied migrations, oldest first.
    public func appliedMigrations() throws(StoreError) -> [String] {
        do {
            return try pool.read { db in try Self.migrator.appliedMigrations(db) }
        } catch {
            throw StoreError.from(error, path: path, doing: "read the migrations")
        }
    }

    /// The SQLite journal mode in force (`wal`).
    func journalMode() throws(StoreError) -> String {
        do {
            return try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
        } catch {
            throw StoreError.from(error, path: path, doing: "read the journal mode")
        }
    }

    /// At a clean stop: the write-ahead log copied into the database file and emptied (removed
    /// when SQLite can), so the file alone holds everything: a copy of it is a backup.
    /// Nothing may use the database afterwards. Best effort, like SQLite's own close.
    /// Returns why part of the log stayed out of the file (the file alone is then not the
    /// whole state; the caller says so), or nil when all of it went in.
    @discardableResult
    public func close() -> String? {
        if readingOnly {
            try? pool.close()
            return nil
        }
        let incomplete = checkpoint()
        try? pool.close()
        return incomplete
    }

    /// Copies the write-ahead log into the database and truncates it to nothing; nil when all
    /// of it went in, else why not ("another process was using it": reading, or holding the
    /// write lock; a full disk). It waits
    /// at most 100 ms for other processes' reads, not `busy_timeout`: a checkpoint that waits
    /// holds back every writer meanwhile (the delivery records, `queue retry`), and a stop
    /// must not wait for an operator's open `sqlite3` shell.
    @discardableResult
    func checkpoint() -> String? {
        do {
            return try pool.writeWithoutTransaction { [lockWaits] db -> String? in
                lockWaits.shorten()
                defer { lockWaits.endShortening() }
                // (busy, frames in the log, frames copied): all copied and the log reset.
                guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") else { return "no answer from SQLite" }
                let busy: Int = row[0]
                return busy == 0 ? nil : "another process was using it"
            }
        } catch {
            return StoreError.from(error, path: path, doing: "copy the log into the file").message
        }
    }

    /// From now on, a statement waiting for a lock another process holds gives up at once
    /// (`database is locked`), and so does every later one: a stop then ends within its
    /// bound, not `busy_timeout` later for every write still to make. What could not be
    /// written is what a crash would leave (attempts not recorded go again, same webhook-id).
    public func stopWaitingForLocks() {
        lockWaits.abandon()
    }

    /// `durably`: see `writeDurably`.
    func write<T: Sendable>(_ action: String, durably: Bool = false, _ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        if durably { return try writeDurably(action, body) }
        do {
            return try pool.write(body)
        } catch {
            throw failure(error, doing: action)
        }
    }

    /// `write`, committed with `synchronous = FULL`: the log is synced to the disk before the
    /// commit returns, with it everything committed before (the log is written in order). One
    /// sync per call: for the writes whose loss in an OS crash or a power cut would send
    /// something twice under different ids, not for every recorded attempt.
    private func writeDurably<T: Sendable>(_ action: String, _ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                // Not inside a transaction: SQLite refuses to change it there.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
                var result: T?
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw DatabaseError(resultCode: .SQLITE_INTERNAL, message: "the transaction ended without a result") }
                return result
            }
        } catch {
            throw failure(error, doing: action)
        }
    }

    func read<T: Sendable>(_ action: String, _ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw failure(error, doing: action)
        }
    }

    /// `error` as a `StoreError`; when the file this handle opened was deleted or replaced
    /// since, that is what is said (a connection opened again on demand fails with SQLite's
    /// "unable to open database file" on a deleted one, which names no cause).
    private func failure(_ error: any Error, doing action: String) -> StoreError {
        if let change = fileChange(), change == .deleted || change == .replaced {
            return StoreError(.cannotOpen, path: path, message: "could not \(action): the file \(change) after overdued opened it")
        }
        return StoreError.from(error, path: path, doing: action)
    }
}

extension Date {
    /// Unix milliseconds: how the state database stores instants (sortable, exact).
    var unixMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    init(unixMilliseconds: Int64) {
        self.init(timeIntervalSince1970: TimeInterval(unixMilliseconds) / 1000)
    }
}
