public import Foundation
internal import GRDB

extension Outbox {
    /// What one call of `pruneHistory` did.
    public struct Pruned: Sendable, Equatable {
        /// Notifications deleted (their attempts went with them).
        public var removed: Int
        /// Whether older history is left, for the next call (it stopped after `batches`).
        public var more: Bool

        public init(removed: Int, more: Bool) {
            self.removed = removed
            self.more = more
        }
    }

    /// Deletes delivered, dead and withdrawn notifications (and their attempts) that ended before `cutoff`:
    /// delivered or given up then (a dead notification requeued and delivered today is today's,
    /// however old its queueing). Dedup state is kept apart: pruning never re-arms a ticket,
    /// and what the pruned notifications said stays with it as its past (`rememberPrunedSQL`),
    /// for a later withdrawal to go back to.
    ///
    /// At most `batches` transactions of `batchSize` rows, each short, and none started once
    /// `budget` has passed: a long backlog (millions of rows the first time a retention
    /// applies) neither holds the write lock for long (the daemon's recorder and an operator's
    /// `queue retry` wait on it; each gets in between two transactions) nor keeps its caller
    /// busy for seconds, nor writes a write-ahead log as large as what it deletes. The rest is
    /// for the next call.
    public func pruneHistory(before cutoff: Date, batchSize: Int = 500, batches: Int = .max,
                             budget: Duration? = nil) throws(StoreError) -> Pruned {
        let limit = cutoff.unixMilliseconds
        let end = budget.map { ContinuousClock.now + $0 }
        var removed = 0
        for batch in 0..<max(1, batches) {
            if batch > 0, let end, ContinuousClock.now >= end { return Pruned(removed: removed, more: true) }
            let started = ContinuousClock.now
            let count = try database.write("prune history") { db in
                // Ended before the cutoff implies queued before it: the created_at index
                // narrows the search, the end time decides.
                let rows = try Int64.fetchAll(db, sql: """
                    SELECT rowid FROM notification INDEXED BY notification_created
                    WHERE created_at < ? AND status IN ('delivered', 'dead', 'withdrawn')
                      AND COALESCE(delivered_at, dead_at, withdrawn_at, created_at) < ?
                    LIMIT ?
                    """, arguments: [limit, limit, batchSize])
                guard !rows.isEmpty else { return 0 }
                let list = rows.jsonArray
                try db.execute(sql: Self.rememberPrunedSQL, arguments: [list])
                try db.execute(sql: Self.rememberPrunedDatesSQL, arguments: [list])
                try db.execute(sql: "DELETE FROM notification WHERE rowid IN (SELECT value FROM json_each(?))", arguments: [list])
                return db.changesCount
            }
            removed += count
            if count < batchSize { return Pruned(removed: removed, more: false) }
            // With a budget (the daemon), as long again without the writer: back to back, the
            // transactions let the delivery records in only one batch at a time, and a
            // destination sending one request at a time fell to a few dozen a second.
            if budget != nil {
                Thread.sleep(forTimeInterval: min(max(ContinuousClock.now - started, .milliseconds(5)), .milliseconds(100)).timeInterval)
            }
        }
        return Pruned(removed: removed, more: true)
    }

    /// What the pruned notifications (rowids in `?1`) said, kept with the dedup state as its
    /// past (newest per rule and ticket; `rememberPrunedDatesSQL`: per date), for a later
    /// withdrawal to go back to.
    /// SQLite gives the other columns of a `max()` row from that row.
    static let rememberPrunedSQL = """
        UPDATE dedup_state SET past_notified_at = gone.at, past_scheduled_date = json_extract(gone.snapshot, '$.scheduled_date'),
            past_assigned_to = json_extract(gone.snapshot, '$.assigned_to'), past_status = json_extract(gone.snapshot, '$.status'),
            past_priority = json_extract(gone.snapshot, '$.priority'), past_source = 'scan',
            past_ticket_id = json_extract(gone.snapshot, '$.ticket_id')
        FROM (SELECT rule, ticket, max(created_at) AS at, snapshot FROM notification
              WHERE rowid IN (SELECT value FROM json_each(?1)) AND status != 'withdrawn' GROUP BY rule, ticket) AS gone
        WHERE dedup_state.rule = gone.rule AND dedup_state.ticket = gone.ticket
          AND coalesce(dedup_state.past_notified_at < gone.at, 1)
        """
    static let rememberPrunedDatesSQL = """
        UPDATE dedup_scheduled_date SET past_notified_at = gone.at
        FROM (SELECT rule, ticket, json_extract(snapshot, '$.scheduled_date') AS date, max(created_at) AS at FROM notification
              WHERE rowid IN (SELECT value FROM json_each(?1)) AND status != 'withdrawn' GROUP BY 1, 2, 3) AS gone
        WHERE dedup_scheduled_date.rule = gone.rule AND dedup_scheduled_date.ticket = gone.ticket
          AND dedup_scheduled_date.scheduled_date = gone.date AND coalesce(dedup_scheduled_date.past_notified_at < gone.at, 1)
        """

    /// Gives the write-ahead log's space back after a large deletion: SQLite keeps the file at
    /// its largest size otherwise. Best effort: a reader in another process can hold it.
    public func truncateWriteAheadLog() {
        database.checkpoint()
    }
}
