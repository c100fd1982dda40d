public import Foundation
internal import GRDB

extension Outbox {
    /// A queued notification, as a scan weighs whether its ticket still matches its rule.
    public struct Queued: Sendable, Equatable {
        public var id: String
        public var ticket: Int64
        public var ticketID: String
        public var destination: String

        public init(id: String, ticket: Int64, ticketID: String, destination: String) {
            self.id = id
            self.ticket = ticket
            self.ticketID = ticketID
            self.destination = destination
        }
    }

    /// The last notification queued so far, in insertion order (0: none). A scan reads it
    /// before the tickets: what is queued later may rest on newer ticket rows than it read.
    public func lastQueued() throws(StoreError) -> Int64 {
        try database.read("read the queue's end") { db in
            try Int64.fetchOne(db, sql: "SELECT max(rowid) FROM notification") ?? 0
        }
    }

    /// The tickets of a rule's pending and retrying notifications queued up to `lastQueued`,
    /// with each notification's rowid: read from the partial index of those alone, no row.
    public func queuedTickets(rule: String, upTo lastQueued: Int64) throws(StoreError) -> [(rowid: Int64, ticket: Int64)] {
        try database.read("read the queued notifications of a rule") { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT rowid, ticket FROM notification INDEXED BY notification_open
                WHERE rule = ? AND status IN ('pending', 'retrying') AND rowid <= ?
                """), arguments: [rule, lastQueued]).map { row in (row[0], row[1]) }
        }
    }

    /// The rowids of a rule's pending or retrying notifications, queued up to `lastQueued`,
    /// for a destination not among `destinations`.
    public func queued(rule: String, outside destinations: [String], upTo lastQueued: Int64) throws(StoreError) -> [Int64] {
        try database.read("read the queued notifications of a rule") { db in
            try Int64.fetchAll(db, sql: """
                SELECT rowid FROM notification INDEXED BY notification_open
                WHERE rule = ? AND status IN ('pending', 'retrying') AND rowid <= ?
                  AND destination NOT IN (\(destinations.map { _ in "?" }.joined(separator: ", ")))
                """, arguments: StatementArguments([rule.databaseValue, lastQueued.databaseValue] + destinations.map(\.databaseValue)))
        }
    }

    /// The rules that have pending or retrying notifications queued up to `lastQueued`.
    public func queuedRules(upTo lastQueued: Int64) throws(StoreError) -> Set<String> {
        try database.read("read the rules of the queue") { db in
            Set(try String.fetchAll(db.cachedStatement(sql: """
                SELECT DISTINCT rule FROM notification INDEXED BY notification_open
                WHERE status IN ('pending', 'retrying') AND rowid <= ?
                """), arguments: [lastQueued]))
        }
    }

    /// The queued notifications with these rowids (those still queued).
    public func queued(rowids: [Int64]) throws(StoreError) -> [Queued] {
        guard !rowids.isEmpty else { return [] }
        return try database.read("read queued notifications") { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT id, ticket, ticket_id, destination FROM notification
                WHERE rowid IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'retrying') ORDER BY rowid
                """), arguments: [rowids.jsonArray]).map { row in
                Queued(id: row[0], ticket: row[1], ticketID: row[2], destination: row[3])
            }
        }
    }

    /// Whether the notification is still pending or retrying: the notifier asks before a
    /// request it read from the queue a while ago (a scan may have withdrawn it meanwhile).
    public func isQueued(id: String) throws(StoreError) -> Bool {
        try database.read("look a notification up") { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT status IN ('pending', 'retrying') FROM notification WHERE id = ?"),
                              arguments: [id]) ?? false
        }
    }

    /// Withdraws the notifications that are still queued (one being delivered meanwhile is
    /// recorded as delivered); `reason` goes in their `last_error`. Returns the ids withdrawn.
    ///
    /// What was never sent did not notify: when every notification of one enqueue (a rule,
    /// a ticket, one instant, one per destination) is withdrawn, the dedup state goes back to
    /// what the rule's other notifications of the ticket say (see `restoreDedup`). A ticket
    /// reopened, or rescheduled back into the past, is then notified as the rule says, not
    /// held back by what was never sent; a date or a change already notified stays notified.
    /// - Parameter restoringDedup: give the dedup state back (`restoreDedup`); not for the
    ///   queue of a lost ticket whose id another ticket has now, whose record that ticket's
    ///   replaces.
    public func withdraw(_ ids: [String], at now: Date, reason: String, restoringDedup: Bool = true) throws(StoreError) -> [String] {
        guard !ids.isEmpty else { return [] }
        return try database.write("withdraw notifications") { db in
            let withdrawn = try Row.fetchAll(db, sql: """
                UPDATE notification SET status = 'withdrawn', withdrawn_at = ?, last_error = ?
                WHERE id IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'retrying')
                RETURNING id, rule, ticket, created_at
                """, arguments: [now.unixMilliseconds, reason, Self.jsonStrings(ids)])
            var enqueues: Set<DedupEnqueue> = []
            for row in withdrawn { enqueues.insert(DedupEnqueue(rule: row[1], ticket: row[2], at: row[3])) }
            for enqueue in enqueues.sorted(by: { $0.at > $1.at }) where restoringDedup {
                try Self.restoreDedup(after: enqueue, db)
            }
            return withdrawn.map { $0[0] }
        }
    }

    /// The dedup state of (rule, ticket) once every notification of the enqueue at `at` is
    /// withdrawn, while it still describes that enqueue (a later one is left alone):
    /// - `dedup_state` is rebuilt from the newest notification of the rule and ticket that was
    ///   not withdrawn (delivered, dead or queued: it did or will go out), from its snapshot,
    ///   or from its `past_*` columns when the newest has no row any more (imported by
    ///   `import-legacy`, or pruned); without either, the row goes (the ticket counts as never
    ///   notified by the rule; the dates of `dedup_scheduled_date`, kept, still answer
    ///   `once_per_scheduled_date`);
    /// - the enqueue's date in `dedup_scheduled_date` keeps the time of the newest other
    ///   notification of that date (a row, or its `past_notified_at`), or goes.
    static func restoreDedup(after enqueue: DedupEnqueue, _ db: Database) throws {
        let key: StatementArguments = [enqueue.rule, enqueue.ticket, enqueue.at]
        // One withdrawn while its request is under way (marked started) may still arrive: it
        // counts until its answer says otherwise (`restoreDedup(ofUnansweredWithdrawal:)`).
        let sent = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM notification INDEXED BY notification_ticket
            WHERE ticket = ?2 AND created_at = ?3 AND rule = ?1
              AND (status != 'withdrawn' OR id IN (SELECT notification_id FROM attempt_started))
            """, arguments: key) ?? 0
        guard sent == 0 else { return }
        let date = try String.fetchOne(db, sql: """
            SELECT json_extract(snapshot, '$.scheduled_date') FROM notification INDEXED BY notification_ticket
            WHERE ticket = ?2 AND created_at = ?3 AND rule = ?1 LIMIT 1
            """, arguments: key)
        let pair: StatementArguments = [enqueue.rule, enqueue.ticket]
        if try Int64.fetchOne(db, sql: "SELECT last_notified_at FROM dedup_state WHERE rule = ? AND ticket = ?", arguments: pair) == enqueue.at {
            let newest = try Row.fetchOne(db, sql: """
                SELECT created_at, snapshot FROM notification INDEXED BY notification_ticket
                WHERE ticket = ?2 AND rule = ?1 AND (status != 'withdrawn' OR id IN (SELECT notification_id FROM attempt_started))
                ORDER BY created_at DESC, rowid DESC LIMIT 1
                """, arguments: pair)
            let past = try Int64.fetchOne(db, sql: "SELECT past_notified_at FROM dedup_state WHERE rule = ? AND ticket = ?",
                                          arguments: pair)
            if let newest, past.map({ (newest[0] as Int64) >= $0 }) ?? true {
                let at: Int64 = newest[0]
                let snapshot: String = newest[1]
                try db.execute(sql: """
                    UPDATE dedup_state SET last_notified_at = ?3, scheduled_date = json_extract(?4, '$.scheduled_date'),
                        assigned_to = json_extract(?4, '$.assigned_to'), status = json_extract(?4, '$.status'),
                        priority = json_extract(?4, '$.priority'), source = 'scan', ticket_id = json_extract(?4, '$.ticket_id')
                    WHERE rule = ?1 AND ticket = ?2
                    """, arguments: [enqueue.rule, enqueue.ticket, at, snapshot])
            } else if past != nil {
                // Newer than any row: imported, or pruned from the history.
                try db.execute(sql: """
                    UPDATE dedup_state SET last_notified_at = past_notified_at, scheduled_date = past_scheduled_date,
                        assigned_to = past_assigned_to, status = past_status, priority = past_priority,
                        source = coalesce(past_source, 'scan'), ticket_id = past_ticket_id
                    WHERE rule = ? AND ticket = ?
                    """, arguments: pair)
            } else {
                try db.execute(sql: "DELETE FROM dedup_state WHERE rule = ? AND ticket = ?", arguments: pair)
            }
        }
        guard let date else { return }
        let dateKey: StatementArguments = [enqueue.rule, enqueue.ticket, enqueue.at, date]
        guard try Int64.fetchOne(db, sql: """
            SELECT notified_at FROM dedup_scheduled_date WHERE rule = ?1 AND ticket = ?2 AND scheduled_date = ?4
            """, arguments: dateKey) == enqueue.at else { return }
        let other = try Int64.fetchOne(db, sql: """
            SELECT max(coalesce(sent, past), coalesce(past, sent)) FROM (
                SELECT (SELECT max(created_at) FROM notification INDEXED BY notification_ticket
                        WHERE ticket = ?2 AND rule = ?1 AND (status != 'withdrawn' OR id IN (SELECT notification_id FROM attempt_started))
                          AND json_extract(snapshot, '$.scheduled_date') = ?4) AS sent,
                       (SELECT past_notified_at FROM dedup_scheduled_date WHERE rule = ?1 AND ticket = ?2 AND scheduled_date = ?4) AS past)
            """, arguments: dateKey)
        if let other {
            try db.execute(sql: "UPDATE dedup_scheduled_date SET notified_at = ?3 WHERE rule = ?1 AND ticket = ?2 AND scheduled_date = ?4",
                           arguments: [enqueue.rule, enqueue.ticket, other, date])
        } else {
            try db.execute(sql: "DELETE FROM dedup_scheduled_date WHERE rule = ?1 AND ticket = ?2 AND scheduled_date = ?4", arguments: dateKey)
        }
    }

    /// A notification withdrawn while its request was under way, whose attempt ended without
    /// reaching the receiver (refused with an answer, or never sent; its mark already
    /// removed): it did not notify, so its enqueue's dedup state goes back as the withdrawal
    /// would have done.
    static func restoreDedup(ofUnansweredWithdrawal id: String, _ db: Database) throws {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT rule, ticket, created_at FROM notification WHERE id = ? AND status = 'withdrawn'
            """), arguments: [id]) else { return }
        try restoreDedup(after: DedupEnqueue(rule: row[0], ticket: row[1], at: row[2]), db)
    }

    /// A notification withdrawn while its request was under way, and then delivered (or whose
    /// mark was written after the withdrawal): its enqueue notified after all, or may have,
    /// and the dedup state says so again (unless a later enqueue is there).
    static func reinstateDedup(of id: String, _ db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT rule, ticket, created_at, snapshot FROM notification WHERE id = ?",
                                         arguments: [id]) else { return }
        let rule: String = row[0], ticket: Int64 = row[1], at: Int64 = row[2], snapshot: String = row[3]
        try db.execute(sql: """
            INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source, ticket_id)
            VALUES (?1, ?2, ?3, json_extract(?4, '$.scheduled_date'), json_extract(?4, '$.assigned_to'),
                    json_extract(?4, '$.status'), json_extract(?4, '$.priority'), 'scan', json_extract(?4, '$.ticket_id'))
            ON CONFLICT (rule, ticket) DO UPDATE SET last_notified_at = excluded.last_notified_at,
                scheduled_date = excluded.scheduled_date, assigned_to = excluded.assigned_to, status = excluded.status,
                priority = excluded.priority, source = 'scan', ticket_id = excluded.ticket_id
            WHERE excluded.last_notified_at > dedup_state.last_notified_at
            """, arguments: [rule, ticket, at, snapshot])
        try db.execute(sql: """
            INSERT INTO dedup_scheduled_date (rule, ticket, scheduled_date, notified_at)
            SELECT ?1, ?2, json_extract(?4, '$.scheduled_date'), ?3 WHERE json_extract(?4, '$.scheduled_date') IS NOT NULL
            ON CONFLICT (rule, ticket, scheduled_date) DO UPDATE SET notified_at = max(notified_at, excluded.notified_at)
            """, arguments: [rule, ticket, at, snapshot])
    }

    struct DedupEnqueue: Hashable {
        var rule: String
        var ticket: Int64
        var at: Int64
    }
}
