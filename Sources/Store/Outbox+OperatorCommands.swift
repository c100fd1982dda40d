public import Foundation
internal import GRDB

/// Notifications still to be delivered (pending or retrying), and dead ones.
public struct QueueBacklog: Sendable, Equatable {
    public var depth: Int
    public var dead: Int
}

public struct QueueCounts: Sendable, Equatable {
    public var pending = 0
    public var retrying = 0
    public var delivered = 0
    public var dead = 0
    public var withdrawn = 0
    public init() {}
    /// Notifications still to be delivered.
    public var depth: Int { pending + retrying }
}

/// What `overdued queue` shows, as one transaction saw it.
public struct QueueListing: Sendable {
    /// Pending, retrying and dead notifications, newest event first, up to the limit asked.
    public var notifications: [OverdueNotification]
    public var counts: QueueCounts
    /// Every recorded pause, ended or not.
    public var receiverPauses: [ReceiverPause]
    /// The requests marked as leaving and not recorded yet, by notification id.
    public var startedAttempts: [String: StartedAttempt]
}

extension Outbox {
    /// A dead notification as `queue retry` weighs it before requeueing it.
    public struct Dead: Sendable, Equatable {
        public var rowid: Int64
        public var id: String
        public var rule: String
        public var ticket: Int64
        public var ticketID: String
        public var destination: String
        /// A newer notification of the same rule, ticket and destination, queued since this
        /// one was (waiting, delivered, or dead too: it is the one to requeue): sending this one
        /// now would repeat it, older. One withdrawn does not count: it never went out.
        public var supersededBy: String?
    }

    /// The dead notifications, oldest first; with `id`, that one if it is dead.
    public func deadNotifications(id: String? = nil) throws(StoreError) -> [Dead] {
        try database.read("read dead notifications") { db in
            try Self.dead(db, where: id == nil ? "" : " AND d.id = ?", arguments: id.map { [$0] } ?? [])
        }
    }

    static func dead(_ db: Database, where condition: String, arguments: StatementArguments) throws -> [Dead] {
        try Row.fetchAll(db, sql: """
            SELECT d.rowid, d.id, d.rule, d.ticket, d.ticket_id, d.destination,
                   (SELECT n.id FROM notification n
                    WHERE n.ticket = d.ticket AND n.created_at > d.created_at AND n.rule = d.rule
                      AND n.destination = d.destination AND n.status != 'withdrawn'
                    ORDER BY n.created_at DESC LIMIT 1)
            FROM notification d WHERE d.status = 'dead'\(condition) ORDER BY d.created_at, d.rowid
            """, arguments: arguments).map { row in
            Dead(rowid: row[0], id: row[1], rule: row[2], ticket: row[3], ticketID: row[4], destination: row[5], supersededBy: row[6])
        }
    }

    /// Puts these notifications back in the queue, due now, with a fresh retry budget;
    /// returns how many (those still dead: one may have been requeued meanwhile). What
    /// `queue retry --force` does.
    public func requeue(rowids: [Int64], now: Date) throws(StoreError) -> Int {
        guard !rowids.isEmpty else { return 0 }
        return try database.write("requeue dead notifications") { db in
            try db.execute(sql: Self.requeueSQL + " AND rowid IN (SELECT value FROM json_each(?))",
                           arguments: [now.unixMilliseconds, now.unixMilliseconds, rowids.jsonArray])
            return db.changesCount
        }
    }

    /// What `requeueUnlessSuperseded` did.
    public struct Requeued: Sendable, Equatable {
        /// How many went back to the queue.
        public var count: Int
        /// Those left dead because a newer notification outside the requeue supersedes them
        /// (`Dead.supersededBy` names it), oldest first.
        public var supersededMeanwhile: [Dead]
    }

    /// `requeue`, but one that a newer notification outside `rowids` supersedes stays dead:
    /// the caller weighed them in an earlier transaction, and the daemon may have queued a
    /// newer one since. Those are returned, with the newer one's id, from the same transaction.
    public func requeueUnlessSuperseded(rowids: [Int64], now: Date) throws(StoreError) -> Requeued {
        guard !rowids.isEmpty else { return Requeued(count: 0, supersededMeanwhile: []) }
        return try database.write("requeue dead notifications") { db in
            let weighed = rowids.jsonArray
            try db.execute(sql: Self.requeueSQL + """
                 AND rowid IN (SELECT value FROM json_each(?3))
                 AND NOT EXISTS (SELECT 1 FROM notification n INDEXED BY notification_ticket
                                 WHERE n.ticket = notification.ticket AND n.created_at > notification.created_at
                                   AND n.rule = notification.rule AND n.destination = notification.destination
                                   AND n.status != 'withdrawn' AND n.rowid NOT IN (SELECT value FROM json_each(?3)))
                """, arguments: [now.unixMilliseconds, now.unixMilliseconds, weighed])
            let count = db.changesCount
            guard count < rowids.count else { return Requeued(count: count, supersededMeanwhile: []) }
            let left = try Self.dead(db, where: " AND d.rowid IN (SELECT value FROM json_each(?))", arguments: [weighed])
            return Requeued(count: count, supersededMeanwhile: left.filter { $0.supersededBy != nil })
        }
    }

    /// Dead → retrying, due now (first argument); the retry budget starts again at the
    /// requeue (second argument), while `attempts` keeps counting, so the attempt numbers in
    /// the history go on from where they were.
    static let requeueSQL = """
        UPDATE notification SET status = 'retrying', next_attempt_at = ?, dead_at = NULL,
                                requeued_at = ?, attempts_before_requeue = attempts, interrupted_attempts = 0
        WHERE status = 'dead'
        """

    /// Notifications in the given states, the most recent first.
    public func notifications(in statuses: [NotificationStatus], ticket: Int64? = nil, limit: Int = 1000) throws(StoreError) -> [OverdueNotification] {
        try database.read("read notifications") { db in try Self.notifications(db, in: statuses, ticket: ticket, limit: limit) }
    }

    static func notifications(_ db: Database, in statuses: [NotificationStatus], ticket: Int64?, limit: Int) throws -> [OverdueNotification] {
        let marks = statuses.map { _ in "?" }.joined(separator: ",")
        var arguments: [any DatabaseValueConvertible] = statuses.map(\.rawValue)
        var condition = "status IN (\(marks))"
        if let ticket {
            condition += " AND ticket = ?"
            arguments.append(ticket)
        }
        arguments.append(limit)
        // Newest event first: when it was delivered or given up, else when it was queued.
        return try OverdueNotification.fetch(db, where: "\(condition) ORDER BY COALESCE(delivered_at, dead_at, withdrawn_at, created_at) DESC, created_at DESC, id LIMIT ?", arguments)
    }

    /// What `overdued queue` shows, read in one transaction, so that its counts, its list,
    /// the receivers' pauses and the requests under way agree with each other.
    public func queueListing(limit: Int) throws(StoreError) -> QueueListing {
        try database.read("read the queue") { db in
            QueueListing(notifications: try Self.notifications(db, in: [.pending, .retrying, .dead], ticket: nil, limit: limit),
                         counts: try Self.counts(db), receiverPauses: try Self.receiverPauses(db),
                         startedAttempts: try Self.startedAttempts(db))
        }
    }

    public func notification(id: String) throws(StoreError) -> OverdueNotification? {
        try database.read("read a notification") { db in
            try OverdueNotification.fetch(db, where: "id = ?", [id]).first
        }
    }

    /// The requests marked as leaving and not recorded yet (`attempt_started`), by
    /// notification id: under way, or cut off by the end of their process (`queue` says which).
    public func startedAttempts() throws(StoreError) -> [String: StartedAttempt] {
        try database.read("read the attempts under way") { db in try Self.startedAttempts(db) }
    }

    static func startedAttempts(_ db: Database) throws -> [String: StartedAttempt] {
        let rows = try Row.fetchAll(db, sql: "SELECT notification_id, attempt, started_at, receiver FROM attempt_started")
        return Dictionary(rows.map { row in
            (row[0] as String, StartedAttempt(notificationID: row[0], attempt: row[1], startedAt: Date(unixMilliseconds: row[2]),
                                              receiver: row[3]))
        }, uniquingKeysWith: { first, _ in first })
    }

    /// The attempts of each of these notifications, first first, in one read (a listing of
    /// 100,000 read them one notification at a time: 23 s).
    public func attempts(notificationIDs: [String]) throws(StoreError) -> [String: [DeliveryAttempt]] {
        guard !notificationIDs.isEmpty else { return [:] }
        return try database.read("read delivery attempts") { db in
            var result: [String: [DeliveryAttempt]] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT notification_id, attempt, started_at, duration_ms, http_status, error, response_body
                FROM delivery_attempt WHERE notification_id IN (SELECT value FROM json_each(?)) ORDER BY notification_id, attempt, id
                """, arguments: [Self.jsonStrings(notificationIDs)])
            while let row = try rows.next() {
                let attempt = DeliveryAttempt(notificationID: row[0], attempt: row[1], startedAt: Date(unixMilliseconds: row[2]),
                                              durationMilliseconds: row[3], httpStatus: row[4], error: row[5], responseBody: row[6])
                result[attempt.notificationID, default: []].append(attempt)
            }
            return result
        }
    }

    /// Every attempt of one notification, first first.
    public func attempts(notificationID: String) throws(StoreError) -> [DeliveryAttempt] {
        try database.read("read delivery attempts") { db in
            try Row.fetchAll(db, sql: """
                SELECT notification_id, attempt, started_at, duration_ms, http_status, error, response_body
                FROM delivery_attempt WHERE notification_id = ? ORDER BY attempt, id
                """, arguments: [notificationID]).map { row in
                DeliveryAttempt(notificationID: row[0], attempt: row[1], startedAt: Date(unixMilliseconds: row[2]),
                                durationMilliseconds: row[3], httpStatus: row[4], error: row[5], responseBody: row[6])
            }
        }
    }

    /// Without reading the history's rows (a `GROUP BY status` over the whole table read every
    /// delivered notification's snapshot: 1.7 s at 500,000 on a cold cache): the queued ones
    /// through their partial index, the dead through theirs, all of them through the smallest
    /// index, and the delivered as the rest.
    public func counts() throws(StoreError) -> QueueCounts {
        try database.read("count notifications") { db in try Self.counts(db) }
    }

    static func counts(_ db: Database) throws -> QueueCounts {
        var counts = QueueCounts()
        for row in try Row.fetchAll(db, sql: """
            SELECT status, count(*) FROM notification INDEXED BY notification_due
            WHERE status IN ('pending', 'retrying') GROUP BY status
            """) {
            let count: Int = row[1]
            switch NotificationStatus(rawValue: row[0] as String) {
            case .pending?: counts.pending = count
            case .retrying?: counts.retrying = count
            default: break
            }
        }
        counts.dead = try Int.fetchOne(db, sql: "SELECT count(*) FROM notification INDEXED BY notification_dead WHERE status = 'dead'") ?? 0
        counts.withdrawn = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM notification INDEXED BY notification_withdrawn WHERE status = 'withdrawn'
            """) ?? 0
        let all = try Int.fetchOne(db, sql: "SELECT count(*) FROM notification INDEXED BY notification_created") ?? 0
        counts.delivered = all - counts.pending - counts.retrying - counts.dead - counts.withdrawn
        return counts
    }

    /// How many notifications wait (pending or retrying) for each destination not in
    /// `destinations`: those are not tried, and the daemon's next tick withdraws them (a
    /// rename does not carry them over). Read from the partial index of the queue.
    public func queuedCounts(outside destinations: [String]) throws(StoreError) -> [String: Int] {
        try database.read("count the queue by destination") { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT destination, count(*) FROM notification INDEXED BY notification_due
                WHERE status IN ('pending', 'retrying') GROUP BY destination
                """) where !destinations.contains(row[0] as String) {
                counts[row[0]] = row[1] as Int
            }
            return counts
        }
    }

    /// The notifications still to deliver and the dead ones, as the status line shows them
    /// after every tick: each count reads a partial index holding just those rows, never the
    /// delivered history (`counts` reads all of it).
    public func backlog() throws(StoreError) -> QueueBacklog {
        try database.read("count the queue") { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: Self.backlogSQL))
            return QueueBacklog(depth: row?[0] ?? 0, dead: row?[1] ?? 0)
        }
    }

    /// Queued notifications whose time has come at `now` (a drain that ran out of time
    /// leaves these).
    public func dueCount(at now: Date) throws(StoreError) -> Int {
        try database.read("count the due notifications") { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM notification INDEXED BY notification_due
                WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ?
                """, arguments: [now.unixMilliseconds]) ?? 0
        }
    }

    static let backlogSQL = """
        SELECT (SELECT count(*) FROM notification INDEXED BY notification_due WHERE status IN ('pending', 'retrying')),
               (SELECT count(*) FROM notification INDEXED BY notification_dead WHERE status = 'dead')
        """
}
