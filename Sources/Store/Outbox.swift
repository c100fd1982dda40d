public import Foundation
internal import GRDB

/// The durable outbound queue and the dedup memory, in the state database. A scan's
/// notifications and its dedup updates are written in one transaction, so a crash can never
/// leave a ticket marked as notified without its notification queued, or the reverse.
///
/// Enqueueing is here; the rest by concern: the dedup memory (`Outbox+Dedup`), delivery
/// (`+Delivery`), withdrawal of what no longer matches (`+Withdrawal`), the operator's
/// commands (`+OperatorCommands`) and history pruning (`+Pruning`).
public final class Outbox: Sendable {
    public let database: StateDatabase

    public init(database: StateDatabase) {
        self.database = database
    }

    // MARK: enqueue

    /// A rule and ticket whose dedup record another process wrote after the scan that
    /// decided to notify it had read it.
    public struct DedupKey: Hashable, Sendable {
        public var rule: String
        public var ticket: Int64
        public init(rule: String, ticket: Int64) {
            self.rule = rule
            self.ticket = ticket
        }
    }

    /// What a scan read before deciding: the dedup generation, and for each dedup record to
    /// write (same order) the `last_notified_at` it found for that rule and ticket (nil: none).
    public struct DedupExpectation: Sendable {
        public var generation: Int64
        public var lastNotified: [Date?]
        public init(generation: Int64, lastNotified: [Date?]) {
            self.generation = generation
            self.lastNotified = lastNotified
        }
    }

    /// Queues the notifications and records the dedup state, atomically.
    ///
    /// With `expecting`, only for the tickets whose dedup record is still what the scan read:
    /// another process (a `scan` beside the daemon, the daemon beside a `once`) may have
    /// decided on the same tickets and enqueued them meanwhile, and both would be sent under
    /// two ids. Those tickets are left out (the other process notified them) and returned;
    /// the rest is written. The check shares the write lock with the writes (an immediate
    /// transaction), so no other enqueue slips between them; while the dedup generation is
    /// unchanged nobody wrote a record, and no ticket is looked at.
    ///
    /// `mayQueueBehind`: ids of notifications that may have an older one of their ticket
    /// still queued (a change, which is not held back): they take its due time if later.
    ///
    /// `keepingDatesOf`: the rules whose notified dates are kept (`dedup_scheduled_date`):
    /// those with `once_per_scheduled_date`, which weigh every date notified before; nil, all.
    /// Kept for every rule, they grew with every new date notified, for good.
    ///
    /// `forgetting`: rules and tickets whose dedup memory is of another ticket (the app's
    /// database handed its id out again): their notified dates and their past go before the
    /// new records are written.
    @discardableResult
    public func enqueue(_ notifications: [OverdueNotification], dedup: [DedupRecord],
                        expecting: DedupExpectation? = nil, mayQueueBehind: [String] = [],
                        keepingDatesOf: Set<String>? = nil, forgetting: Set<DedupKey> = [],
                        progress: TickProgress? = nil) throws(StoreError) -> Set<DedupKey> {
        // Synced when it queues: a request may leave as soon as it commits, and an OS crash that
        // then lost the commit would have the next tick queue the ticket again, under a new
        // webhook-id the receiver cannot match (a duplicate it cannot drop).
        try database.write("enqueue notifications", durably: !notifications.isEmpty) { db in
            var conflicts: Set<DedupKey> = []
            if let expecting, try Self.dedupGeneration(db) != expecting.generation {
                let current = try db.cachedStatement(sql: "SELECT last_notified_at FROM dedup_state WHERE rule = ? AND ticket = ?")
                for (record, expected) in zip(dedup, expecting.lastNotified) {
                    try progress?.checkpoint()
                    let now = try Int64.fetchOne(current, arguments: [record.rule, record.ticket])
                    if now != expected?.unixMilliseconds { conflicts.insert(DedupKey(rule: record.rule, ticket: record.ticket)) }
                }
            }
            let queued = conflicts.isEmpty ? notifications
                : notifications.filter { !conflicts.contains(DedupKey(rule: $0.rule, ticket: $0.ticket)) }
            let records = conflicts.isEmpty ? dedup : dedup.filter { !conflicts.contains(DedupKey(rule: $0.rule, ticket: $0.ticket)) }
            try BulkInsert.run(db, checkpoint: progress, """
                INSERT INTO notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts)
                """, row: "(?, ?, ?, ?, ?, ?, 'pending', ?, ?, 0)", queued) { n, bind in
                bind.text(n.id); bind.text(n.rule); bind.integer(n.ticket); bind.text(n.ticketID); bind.text(n.destination)
                bind.text(utf8: n.snapshot); bind.integer(n.createdAt.unixMilliseconds); bind.integer(n.nextAttemptAt.unixMilliseconds)
            }
            for key in forgetting.subtracting(conflicts) { try Self.forget(key, db) }
            try Self.upsert(records, db, keepingDatesOf: keepingDatesOf, checkpoint: progress)
            if !mayQueueBehind.isEmpty {
                try db.execute(sql: Self.queueBehindSQL, arguments: [Self.jsonStrings(mayQueueBehind)])
            }
            return conflicts
        }
    }

    /// The wall clock was set back by `seconds`: the queued notifications due after `now` got
    /// their times on the clock before the step, and are due as much earlier (never before
    /// `now`); so are the receivers' recorded pauses (`queue` shows them, a restart honours
    /// them). Returns how many notifications moved.
    public func moveDueTimes(back seconds: TimeInterval, now: Date) throws(StoreError) -> Int {
        try database.write("move the queue's due times back") { db in
            let arguments: StatementArguments = [now.unixMilliseconds, Int64((seconds * 1000).rounded())]
            try db.execute(sql: """
                UPDATE notification SET next_attempt_at = max(?1, next_attempt_at - ?2)
                WHERE status IN ('pending', 'retrying') AND next_attempt_at > ?1
                """, arguments: arguments)
            let moved = db.changesCount
            try db.execute(sql: "UPDATE receiver_pause SET until_at = max(?1, until_at - ?2) WHERE until_at > ?1", arguments: arguments)
            return moved
        }
    }
}
