public import Foundation
internal import GRDB

extension Outbox {
    /// Notifications of one destination whose time has come, oldest due first. One that has
    /// an older notification of the same rule and ticket still queued for the destination
    /// waits for it, however soon it is due itself: a change queued while the previous
    /// notification was retrying reaches the receiver after it, never before.
    /// - Parameter skippingRules: rules whose notifications are not due now (held until a
    ///   tick weighs them against the config that removed or changed the rule).
    public func due(destination: String, now: Date, limit: Int, excluding: Set<String> = [],
                    skippingRules: Set<String> = []) throws(StoreError) -> [OverdueNotification] {
        try database.read("read due notifications") { db in
            if skippingRules.isEmpty {
                return try OverdueNotification.fetch(db, where: Self.dueCondition, [destination, now.unixMilliseconds, limit + excluding.count])
            }
            return try OverdueNotification.fetch(db, where: Self.dueSkippingRulesCondition,
                                                 [destination, now.unixMilliseconds, Self.jsonStrings(skippingRules.sorted()), limit + excluding.count])
        }.filter { !excluding.contains($0.id) }.prefix(limit).map { $0 }
    }

    /// `due`'s condition and order (destination, now, limit): the walk of `notification_due`
    /// in delivery order, each row checked against the open notifications of its ticket.
    /// "Older" is the order of insertion (rowid), not `created_at`: that is the tick's
    /// instant, which a clock set back (or a `--now`) can date before an earlier one's.
    static let dueCondition = """
        destination = ? AND status IN ('pending', 'retrying') AND next_attempt_at <= ?
        AND NOT EXISTS (
            SELECT 1 FROM notification AS earlier INDEXED BY notification_open
            WHERE earlier.rule = notification.rule AND earlier.ticket = notification.ticket
              AND earlier.destination = notification.destination AND earlier.status IN ('pending', 'retrying')
              AND earlier.rowid < notification.rowid)
        ORDER BY next_attempt_at, created_at LIMIT ?
        """

    /// `dueCondition` with the notifications of some rules left out (destination, now, the
    /// rules as a JSON array, limit).
    static let dueSkippingRulesCondition = dueCondition.replacingOccurrences(
        of: "ORDER BY", with: "AND rule NOT IN (SELECT value FROM json_each(?))\n        ORDER BY")

    /// Records an attempt and moves the notification to its next state, in one transaction.
    func record(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome, now: Date) throws(StoreError) {
        try record([RecordedAttempt(attempt: attempt, outcome: outcome, at: now)])
    }

    /// Records several attempts in one transaction (the notifier's group commit): all of them
    /// are written, or none. `starting`: requests about to leave, written in the same
    /// transaction (see `StartedAttempt`); `forgetting`: marks of requests that did not go (a
    /// stop cut them before their answer), removed after any mark of the batch is written.
    /// `interruptions`: notifications whose attempt here is one a process ended
    /// (`interruptedAttempts`), with the streak it makes (`interrupted_attempts` and the
    /// receiver they went to); every other attempt recorded sets the streak back to 0.
    public func record(_ attempts: [RecordedAttempt], starting: [StartedAttempt] = [], forgetting: [String] = [],
                       interruptions: [String: InterruptionStreak] = [:], pausing: [ReceiverPause] = []) throws(StoreError) {
        guard !attempts.isEmpty || !starting.isEmpty || !forgetting.isEmpty || !pausing.isEmpty else { return }
        try database.write("record delivery attempts") { db in
            // In the same transaction as the attempts that led to them (`InterruptedAttempts`).
            for pause in pausing { try Self.upsert(pause, db) }
            // Marks first: a mark and its own attempt's record can share a batch (the mark
            // waited for the lock while its request went), and the record must remove it.
            if !starting.isEmpty {
                let start = try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO attempt_started (notification_id, attempt, started_at, receiver)
                    SELECT id, ?2, ?3, ?4 FROM notification WHERE id = ?1
                    """)
                let withdrawn = try db.cachedStatement(sql: "SELECT 1 FROM notification WHERE id = ? AND status = 'withdrawn'")
                for attempt in starting {
                    try start.execute(arguments: [attempt.notificationID, attempt.attempt, attempt.startedAt.unixMilliseconds,
                                                  attempt.receiver])
                    // Withdrawn after its worker read it, before this mark could be written
                    // (the withdrawal held the write lock): it is under way all the same, and
                    // counts as notified until its answer, as one marked before would.
                    if try Bool.fetchOne(withdrawn, arguments: [attempt.notificationID]) ?? false {
                        try Self.reinstateDedup(of: attempt.notificationID, db)
                    }
                }
            }
            let streak = "?, interrupted_receiver = ?"
            let delivered = try db.cachedStatement(sql: """
                UPDATE notification SET status = 'delivered', delivered_at = ?, attempts = ?, last_http_status = ?, last_error = NULL,
                                        withdrawn_at = NULL, interrupted_attempts = \(streak)
                WHERE id = ?
                """)
            let retry = try db.cachedStatement(sql: """
                UPDATE notification SET status = 'retrying', next_attempt_at = ?, attempts = ?, last_http_status = ?, last_error = ?,
                                        interrupted_attempts = \(streak)
                WHERE id = ? AND status NOT IN ('delivered', 'withdrawn')
                """)
            let dead = try db.cachedStatement(sql: """
                UPDATE notification SET status = 'dead', dead_at = ?, attempts = ?, last_http_status = ?, last_error = ?,
                                        interrupted_attempts = \(streak)
                WHERE id = ? AND status NOT IN ('delivered', 'withdrawn')
                """)
            let finished = try db.cachedStatement(sql: "DELETE FROM attempt_started WHERE notification_id = ?")
            let insert = try db.cachedStatement(sql: """
                INSERT INTO delivery_attempt (notification_id, attempt, started_at, duration_ms, http_status, error, response_body, outcome)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let pushBehind = try db.cachedStatement(sql: Self.pushBehindSQL)
            let wasWithdrawn = try db.cachedStatement(sql: "SELECT 1 FROM notification WHERE id = ? AND status = 'withdrawn'")
            for entry in attempts {
                let attempt = entry.attempt
                let streak = interruptions[attempt.notificationID]
                let counted: [(any DatabaseValueConvertible)?] = [streak?.inARow ?? 0, streak?.receiver]
                let outcomeName: String
                switch entry.outcome {
                case .delivered:
                    outcomeName = "delivered"
                    let reinstate = try Bool.fetchOne(wasWithdrawn, arguments: [attempt.notificationID]) ?? false
                    try delivered.execute(arguments: StatementArguments([entry.at.unixMilliseconds, attempt.attempt, attempt.httpStatus] + counted
                                                                       + [attempt.notificationID]))
                    if reinstate { try Self.reinstateDedup(of: attempt.notificationID, db) }
                case .retry(let at):
                    outcomeName = "retry"
                    try retry.execute(arguments: StatementArguments([at.unixMilliseconds, attempt.attempt, attempt.httpStatus, attempt.error] + counted
                                                                   + [attempt.notificationID]))
                    try pushBehind.execute(arguments: [at.unixMilliseconds, attempt.notificationID])
                case .dead(let reason):
                    outcomeName = "dead"
                    try dead.execute(arguments: StatementArguments([entry.at.unixMilliseconds, attempt.attempt, attempt.httpStatus, reason] + counted
                                                                  + [attempt.notificationID]))
                }
                try insert.execute(arguments: [attempt.notificationID, attempt.attempt, attempt.startedAt.unixMilliseconds,
                                               attempt.durationMilliseconds, attempt.httpStatus, attempt.error, attempt.responseBody, outcomeName])
                try finished.execute(arguments: [attempt.notificationID])
                // Refused (an answer), or never sent: a withdrawn one did not notify. Timed out
                // or cut after it left, it may have: it stays notified, as after a crash.
                if case .delivered = entry.outcome {} else if !entry.mayHaveArrived {
                    try Self.restoreDedup(ofUnansweredWithdrawal: attempt.notificationID, db)
                }
            }
            // Cut off by a stop while under way: whether the receiver got it is unknown (a
            // withdrawn one stays notified; a queued one goes again under its webhook-id).
            for id in forgetting {
                try finished.execute(arguments: [id])
            }
        }
    }

    /// Gives a queued notification up without an attempt (its next attempt could not start
    /// before `retry.give_up_after` ran out): dead, with the reason. False when it was no
    /// longer queued (delivered or withdrawn meanwhile).
    public func giveUp(_ id: String, reason: String, at now: Date) throws(StoreError) -> Bool {
        try database.write("give up a notification") { db in
            try db.execute(sql: """
                UPDATE notification SET status = 'dead', dead_at = ?, last_error = ?
                WHERE id = ? AND status IN ('pending', 'retrying')
                """, arguments: [now.unixMilliseconds, reason, id])
            return db.changesCount > 0
        }
    }

    /// The attempts an earlier process started and did not live to record, of notifications
    /// still queued for one of `destinations` (the others are not tried: a tick withdraws them).
    /// A read: it never waits for another process's write lock. (The marks of notifications
    /// no longer queued, delivered or withdrawn meanwhile by another command, go with their
    /// history, `ON DELETE CASCADE`.)
    /// Driven by the marks (`CROSS JOIN` keeps that order): usually none, and a read of the
    /// notification table's indexes first made every start pay for them (and a damaged queue
    /// index refused the recovery itself, before the queue's read could say why).
    public func interruptedAttempts(destinations: Set<String>) throws(StoreError) -> [InterruptedAttempt] {
        try database.read("read interrupted attempts") { db in
            let started = try Row.fetchAll(db, sql: """
                SELECT s.notification_id, s.attempt, s.started_at, n.interrupted_attempts, s.receiver, n.interrupted_receiver
                FROM attempt_started AS s CROSS JOIN notification AS n ON n.id = s.notification_id
                WHERE n.status IN ('pending', 'retrying')
                """)
            guard !started.isEmpty else { return [] }
            let notifications = try OverdueNotification.fetch(db, where: """
                id IN (SELECT notification_id FROM attempt_started) AND status IN ('pending', 'retrying')
                """, [])
            let byID = Dictionary(notifications.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            return started.compactMap { row -> InterruptedAttempt? in
                guard let notification = byID[row[0] as String], destinations.contains(notification.destination) else { return nil }
                return InterruptedAttempt(notification: notification,
                                          started: StartedAttempt(notificationID: row[0], attempt: row[1], startedAt: Date(unixMilliseconds: row[2]),
                                                                          receiver: row[4]),
                                          interruptedBefore: row[3], streakReceiver: row[5])
            }.sorted { $0.started.startedAt < $1.started.startedAt }
        }
    }

    /// The notifications queued behind one that is waiting for a retry (same rule, ticket and
    /// destination, queued later) wait at least as long: FIFO per ticket holds them back
    /// anyway, and a due time they cannot use would make every read of the due ones walk them
    /// again (75,000 changes behind a 24 h Retry-After made a drain 25 times slower).
    /// `["a","b"]`, read with `json_each`.
    static func jsonStrings(_ values: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(values), as: UTF8.self)) ?? "[]"
    }

    static let pushBehindSQL = """
        UPDATE notification SET next_attempt_at = max(next_attempt_at, ?1)
        WHERE rowid IN (
            SELECT later.rowid FROM notification AS older, notification AS later INDEXED BY notification_open
            WHERE older.id = ?2 AND later.rule = older.rule AND later.ticket = older.ticket
              AND later.destination = older.destination AND later.status IN ('pending', 'retrying')
              AND later.rowid > older.rowid)
        """

    /// Newly queued notifications behind an older one still queued for the same rule, ticket
    /// and destination (a change that follows a notification still retrying) take its due
    /// time when that is later (see `pushBehindSQL`).
    static let queueBehindSQL = """
        UPDATE notification AS later SET next_attempt_at = (
            SELECT max(older.next_attempt_at) FROM notification AS older INDEXED BY notification_open
            WHERE older.rule = later.rule AND older.ticket = later.ticket AND older.destination = later.destination
              AND older.status IN ('pending', 'retrying') AND older.rowid < later.rowid)
        WHERE later.id IN (SELECT value FROM json_each(?1)) AND later.next_attempt_at < (
            SELECT max(older.next_attempt_at) FROM notification AS older INDEXED BY notification_open
            WHERE older.rule = later.rule AND older.ticket = later.ticket AND older.destination = later.destination
              AND older.status IN ('pending', 'retrying') AND older.rowid < later.rowid)
        """
}
