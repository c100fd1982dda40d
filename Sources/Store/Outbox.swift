public import Foundation
internal import GRDB
internal import Algorithms

/// Where a notification is in its life. Anything not `delivered` is sent again after a
/// crash, under the same id: at-least-once, never under two ids.
public enum NotificationStatus: String, Sendable, Equatable, CaseIterable, Codable {
    /// Enqueued, never tried.
    case pending
    /// Tried, failed, due again at `nextAttemptAt`.
    case retrying
    case delivered
    /// Given up: a permanent error (4xx) or retries exhausted. `queue retry` requeues it.
    case dead
    /// Never sent: while it was queued, its ticket stopped matching its rule (closed,
    /// rescheduled, reassigned, deleted). Ended, like delivered and dead.
    case withdrawn
}

/// One notification of one ticket by one rule to one destination, as the outbox holds it.
public struct OverdueNotification: Sendable, Equatable {
    /// Stable for the notification's life; sent as `webhook-id` on every attempt.
    public var id: String
    public var rule: String
    public var ticket: Int64
    public var ticketID: String
    public var destination: String
    /// What the payload is rendered from (JSON of the ticket as seen at enqueue time).
    public var snapshot: Data
    public var status: NotificationStatus
    public var createdAt: Date
    public var nextAttemptAt: Date
    public var attempts: Int
    public var lastHTTPStatus: Int?
    public var lastError: String?
    public var deliveredAt: Date?
    public var deadAt: Date?
    /// When it was withdrawn (see `NotificationStatus.withdrawn`).
    public var withdrawnAt: Date?
    /// When `overdued queue retry` last put it back after it was dead: its retry budget
    /// (`retry.max_attempts`, `give_up_after`) counts from then. Nil: never requeued.
    public var requeuedAt: Date?
    /// `attempts` when it was last requeued (0 when never): the attempts of the budgets spent.
    public var attemptsBeforeRequeue: Int
    /// Its last attempts in a row that the process did not live to answer (an answer that
    /// crashes overdued, or one in flight beside it); 0 once an attempt has an answer.
    public var interruptedAttempts: Int

    public init(id: String, rule: String, ticket: Int64, ticketID: String, destination: String, snapshot: Data,
                status: NotificationStatus = .pending, createdAt: Date, nextAttemptAt: Date? = nil, attempts: Int = 0,
                lastHTTPStatus: Int? = nil, lastError: String? = nil, deliveredAt: Date? = nil, deadAt: Date? = nil,
                requeuedAt: Date? = nil, attemptsBeforeRequeue: Int = 0, withdrawnAt: Date? = nil, interruptedAttempts: Int = 0) {
        self.id = id
        self.rule = rule
        self.ticket = ticket
        self.ticketID = ticketID
        self.destination = destination
        self.snapshot = snapshot
        self.status = status
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt ?? createdAt
        self.attempts = attempts
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
        self.deliveredAt = deliveredAt
        self.deadAt = deadAt
        self.requeuedAt = requeuedAt
        self.attemptsBeforeRequeue = attemptsBeforeRequeue
        self.withdrawnAt = withdrawnAt
        self.interruptedAttempts = interruptedAttempts
    }

    /// A new notification id: `msg_` and 32 random hex digits (the Standard Webhooks style).
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next(), generator.next())
        return String(unsafeUninitializedCapacity: 36) { bytes in
            let digits: StaticString = "0123456789abcdef"
            bytes[0] = UInt8(ascii: "m"); bytes[1] = UInt8(ascii: "s"); bytes[2] = UInt8(ascii: "g"); bytes[3] = UInt8(ascii: "_")
            for (start, word) in [(4, words.0), (20, words.1)] {
                var word = word
                for offset in 0..<16 {
                    bytes[start + offset] = digits.utf8Start[Int(word & 0xF)]
                    word >>= 4
                }
            }
            return 36
        }
    }
}

/// One HTTP attempt at delivering a notification.
public struct DeliveryAttempt: Sendable, Equatable {
    public var notificationID: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var startedAt: Date
    public var durationMilliseconds: Int
    public var httpStatus: Int?
    public var error: String?
    /// The first 1 KB of the response body.
    public var responseBody: String?

    public init(notificationID: String, attempt: Int, startedAt: Date, durationMilliseconds: Int,
                httpStatus: Int? = nil, error: String? = nil, responseBody: String? = nil) {
        self.notificationID = notificationID
        self.attempt = attempt
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.httpStatus = httpStatus
        self.error = error
        self.responseBody = responseBody.map { String(decoding: $0.utf8.prefix(1024), as: UTF8.self) }
    }
}

/// What an attempt leads to.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Date)
    case dead(reason: String)
}

/// An attempt to record, with its verdict and when it was decided.
public struct RecordedAttempt: Sendable, Equatable {
    public var attempt: DeliveryAttempt
    public var outcome: DeliveryOutcome
    public var at: Date
    /// Not delivered, yet the receiver may have got it: the request had left when it timed
    /// out or its connection broke, without an answer. A notification withdrawn while it was
    /// under way then keeps its ticket notified, as a crash's unknown does.
    public var mayHaveArrived: Bool

    public init(attempt: DeliveryAttempt, outcome: DeliveryOutcome, at: Date, mayHaveArrived: Bool = false) {
        self.attempt = attempt
        self.outcome = outcome
        self.at = at
        self.mayHaveArrived = mayHaveArrived
    }
}

/// A request about to leave: written before it does, and removed with its attempt's record
/// (see migrations v10 and v11).
public struct StartedAttempt: Sendable, Equatable {
    public var notificationID: String
    public var attempt: Int
    public var startedAt: Date
    /// Where the request went: scheme, host and port (`DestinationSpec.redactedURL`), as a
    /// `ReceiverPause` keeps it. Nil for a mark an earlier release wrote (not known).
    public var receiver: String?

    public init(notificationID: String, attempt: Int, startedAt: Date, receiver: String? = nil) {
        self.notificationID = notificationID
        self.attempt = attempt
        self.startedAt = startedAt
        self.receiver = receiver
    }
}

/// The attempts of one notification that a process did not survive, in a row, and where
/// they went (scheme, host and port; nil when not known).
public struct InterruptionStreak: Sendable, Equatable {
    public var inARow: Int
    public var receiver: String?

    public init(inARow: Int, receiver: String?) {
        self.inARow = inARow
        self.receiver = receiver
    }
}

/// An attempt whose process ended before its answer was recorded, found by the next
/// deliverer (`Outbox.interruptedAttempts`).
public struct InterruptedAttempt: Sendable, Equatable {
    public var notification: OverdueNotification
    public var started: StartedAttempt
    /// Attempts of this notification interrupted in a row before this one.
    public var interruptedBefore: Int
    /// Where those went (`StartedAttempt.receiver`); nil when none, or not known.
    public var streakReceiver: String?

    public init(notification: OverdueNotification, started: StartedAttempt, interruptedBefore: Int, streakReceiver: String? = nil) {
        self.streakReceiver = streakReceiver
        self.notification = notification
        self.started = started
        self.interruptedBefore = interruptedBefore
    }
}

/// The dedup memory of one (rule, ticket): when it was last notified and what the ticket
/// looked like then, so that `repeat.on_change` and `once_per_scheduled_date` can compare.
public struct DedupRecord: Sendable, Equatable {
    public var rule: String
    public var ticket: Int64
    public var lastNotifiedAt: Date
    public var scheduledDate: String?
    public var assignedTo: Int64?
    public var status: String?
    public var priority: String?
    /// "scan", or "legacy" when imported from the app's webhook_notifications.
    public var source: String

    public init(rule: String, ticket: Int64, lastNotifiedAt: Date, scheduledDate: String?, assignedTo: Int64?,
                status: String?, priority: String?, source: String = "scan") {
        self.rule = rule
        self.ticket = ticket
        self.lastNotifiedAt = lastNotifiedAt
        self.scheduledDate = scheduledDate
        self.assignedTo = assignedTo
        self.status = status
        self.priority = priority
        self.source = source
    }
}

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

/// The durable outbound queue and the dedup memory, in the state database. A scan's
/// notifications and its dedup updates are written in one transaction, so a crash can never
/// leave a ticket marked as notified without its notification queued, or the reverse.
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
    @discardableResult
    public func enqueue(_ notifications: [OverdueNotification], dedup: [DedupRecord],
                        expecting: DedupExpectation? = nil, mayQueueBehind: [String] = [],
                        keepingDatesOf: Set<String>? = nil, progress: TickProgress? = nil) throws(StoreError) -> Set<DedupKey> {
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

    /// The records of `keys` still dated after `limit` (the clock was set back since they were
    /// written) re-dated to `now`: their notification may have gone out a moment ago, and
    /// `repeat.every` runs from now. A record written meanwhile by another process (dated by
    /// the same clock) is left as it is, and so is one whose notification is still queued for
    /// one of `destinations` (those the config defines; one on hold for a destination gone from
    /// it may wait for ever): a withdrawal gives its state back by its date (`restoreDedup`), and
    /// what was never sent did not notify; it is re-dated once delivered or given up. Returns how
    /// many were re-dated.
    @discardableResult
    public func redateNotifiedInTheFuture(_ keys: [DedupKey], to now: Date, after limit: Date,
                                          queuedFor destinations: Set<String>) throws(StoreError) -> Int {
        guard !keys.isEmpty else { return 0 }
        return try database.write("re-date the notifications dated after now") { db in
            let statement = try db.cachedStatement(sql: """
                UPDATE dedup_state SET last_notified_at = ?1 WHERE rule = ?2 AND ticket = ?3 AND last_notified_at > ?4
                  AND NOT EXISTS (SELECT 1 FROM notification AS n WHERE n.rule = ?2 AND n.ticket = ?3 AND n.status IN ('pending', 'retrying')
                                  AND n.destination IN (SELECT value FROM json_each(?5)))
                """)
            let defined = PayloadJSON.array(destinations.sorted().map { .string($0) }).text
            var redated = 0
            for key in keys {
                try statement.execute(arguments: [now.unixMilliseconds, key.rule, key.ticket, limit.unixMilliseconds, defined])
                redated += db.changesCount
            }
            return redated
        }
    }

    /// Writes dedup records (replacing older ones of the same rule and ticket). Internal, for
    /// tests: a scan writes its records with its notifications (`enqueue`), which checks that
    /// nothing was notified meanwhile; this does not.
    func recordDedup(_ records: [DedupRecord]) throws(StoreError) {
        try database.write("record dedup state") { db in try Self.upsert(records, db) }
    }

    /// Whether the rule has notified any scheduled date (a look at the key's first row).
    public func hasNotifiedDates(rule: String) throws(StoreError) -> Bool {
        try database.read("read the notified dates") { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM dedup_scheduled_date WHERE rule = ?)", arguments: [rule]) ?? false
        }
    }

    /// The scheduled dates each ticket was notified for by the rule (`once_per_scheduled_date`
    /// suppresses a date already among them, not only the last one).
    public func notifiedScheduledDates(rule: String, tickets: [Int64]) throws(StoreError) -> [Int64: Set<String>] {
        guard !tickets.isEmpty else { return [:] }
        return try database.read("read the notified scheduled dates") { db in
            let statement = try db.cachedStatement(sql: """
                SELECT ticket, scheduled_date FROM dedup_scheduled_date WHERE rule = ? AND ticket IN (SELECT value FROM json_each(?))
                """)
            let rows = try Row.fetchCursor(statement, arguments: [rule, tickets.jsonArray])
            var result: [Int64: Set<String>] = [:]
            while let row = try rows.next() {
                result[row[0] as Int64, default: []].insert(row[1] as String)
            }
            return result
        }
    }

    /// Remembers each record's scheduled date as notified for its rule and ticket (of the
    /// rules in `keepingDatesOf`, or all).
    private static func recordScheduledDates(_ records: [DedupRecord], _ db: Database, keepingDatesOf: Set<String>? = nil,
                                             checkpoint: TickProgress? = nil) throws {
        let dated = records.filter { record in
            record.scheduledDate != nil && (keepingDatesOf?.contains(record.rule) ?? true)
        }
        try BulkInsert.run(db, checkpoint: checkpoint, "INSERT INTO dedup_scheduled_date (rule, ticket, scheduled_date, notified_at)",
                           row: "(?, ?, ?, ?)", dated, then: """
            ON CONFLICT (rule, ticket, scheduled_date) DO UPDATE SET notified_at = max(notified_at, excluded.notified_at)
            """) { r, bind in
            bind.text(r.rule); bind.integer(r.ticket); bind.text(r.scheduledDate); bind.integer(r.lastNotifiedAt.unixMilliseconds)
        }
    }

    private static func upsert(_ records: [DedupRecord], _ db: Database, keepingDatesOf: Set<String>? = nil,
                               checkpoint: TickProgress? = nil) throws {
        try recordScheduledDates(records, db, keepingDatesOf: keepingDatesOf, checkpoint: checkpoint)
        try BulkInsert.run(db, checkpoint: checkpoint, "INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source)",
                           row: "(?, ?, ?, ?, ?, ?, ?, ?)", records, then: """
            ON CONFLICT (rule, ticket) DO UPDATE SET
                last_notified_at = excluded.last_notified_at, scheduled_date = excluded.scheduled_date,
                assigned_to = excluded.assigned_to, status = excluded.status, priority = excluded.priority,
                source = excluded.source
            """) { r, bind in
            bind.text(r.rule); bind.integer(r.ticket); bind.integer(r.lastNotifiedAt.unixMilliseconds); bind.text(r.scheduledDate)
            bind.integer(r.assignedTo); bind.text(r.status); bind.text(r.priority); bind.text(r.source)
        }
    }

    /// Writes imported dedup records, except where overdued's own record is newer, and
    /// remembers every scheduled date of `notified` (each legacy notification, not only the
    /// newest of a ticket) as notified. Returns how many records were written.
    ///
    /// Imported notifications have no row in the notification table: they are also kept as the
    /// past of their rule and ticket (`past_*`), which a withdrawal goes back to.
    ///
    /// - Parameter countedSentAt: the import's instant, at which a legacy notification dated
    ///   ahead of it was counted as sent. That instant moves with every import, so a record
    ///   dated at it replaces neither overdued's own record nor the same notification counted
    ///   by an earlier import (same date, assignee, status and priority): a second import would
    ///   otherwise move it forward (delaying the next notification), or replace a newer record
    ///   of overdued's own.
    /// Written in transactions of `importBatch` records: other writers (the daemon's records
    /// of its deliveries, `scan`, `queue retry`) get in between, instead of waiting for the
    /// whole import (a minute and a half for 400,000 records in one transaction). Each record
    /// is decided alone, so an import cut off part-way is finished by running it again.
    /// - Parameter keepingDatesOf: the rules whose notified dates are kept (see `enqueue`); nil, all.
    public func importDedup(_ records: [DedupRecord], notified: [DedupRecord] = [], countedSentAt: Date? = nil,
                            keepingDatesOf: Set<String>? = nil) throws(StoreError) -> Int {
        for batch in notified.chunks(ofCount: Self.importBatch) {
            let started = ContinuousClock.now
            defer { Self.pauseAfterImportBatch(started) }
            try database.write("import dedup state") { db in
                try Self.recordScheduledDates(Array(batch), db, keepingDatesOf: keepingDatesOf)
                let past = try db.cachedStatement(sql: """
                    UPDATE dedup_scheduled_date SET past_notified_at = max(coalesce(past_notified_at, ?4), ?4)
                    WHERE rule = ?1 AND ticket = ?2 AND scheduled_date = ?3
                    """)
                for record in batch where record.scheduledDate != nil {
                    try past.execute(arguments: [record.rule, record.ticket, record.scheduledDate, record.lastNotifiedAt.unixMilliseconds])
                }
            }
        }
        var written = 0
        for batch in records.chunks(ofCount: Self.importBatch) {
            let started = ContinuousClock.now
            defer { Self.pauseAfterImportBatch(started) }
            written += try database.write("import dedup state") { db in
                let existing = try db.cachedStatement(sql: """
                    SELECT last_notified_at, source, scheduled_date IS ?3 AND assigned_to IS ?4 AND status IS ?5 AND priority IS ?6
                    FROM dedup_state WHERE rule = ?1 AND ticket = ?2
                    """)
                let past = try db.cachedStatement(sql: """
                    UPDATE dedup_state SET past_notified_at = ?3, past_scheduled_date = ?4, past_assigned_to = ?5,
                        past_status = ?6, past_priority = ?7, past_source = ?8
                    WHERE rule = ?1 AND ticket = ?2 AND coalesce(past_notified_at < ?3, 1)
                    """)
                var written = 0
                for record in batch {
                    let row = try Row.fetchOne(existing, arguments: [record.rule, record.ticket, record.scheduledDate, record.assignedTo,
                                                                     record.status, record.priority])
                    let last: Int64? = row?[0]
                    let counted = countedSentAt.map { $0.unixMilliseconds == record.lastNotifiedAt.unixMilliseconds } ?? false
                    // Counted at this import's instant: written where there is no record, or over an
                    // earlier import's record of another notification (other date, assignee, ...);
                    // never over overdued's own, nor over the same notification counted before.
                    if counted, let row, (row[1] as String) != "legacy" || (row[2] as Bool? ?? false) { continue }
                    if last.map({ $0 < record.lastNotifiedAt.unixMilliseconds }) ?? true {
                        try Self.upsert([record], db, keepingDatesOf: keepingDatesOf)
                        written += 1
                    }
                    try past.execute(arguments: [record.rule, record.ticket, record.lastNotifiedAt.unixMilliseconds, record.scheduledDate,
                                                 record.assignedTo, record.status, record.priority, record.source])
                }
                return written
            }
        }
        return written
    }

    /// Records per transaction of `importDedup`.
    static let importBatch = 1_000

    /// As long again as the batch took (5 to 50 ms), without the write lock: SQLite's lock is
    /// not fair, and a writer that takes it again at once leaves the others waiting for all of
    /// their busy timeout (a `BEGIN IMMEDIATE` probe failed 6 times in 10 during an import).
    private static func pauseAfterImportBatch(_ started: ContinuousClock.Instant) {
        Thread.sleep(forTimeInterval: min(max(ContinuousClock.now - started, .milliseconds(5)), .milliseconds(50)).timeInterval)
    }

    /// The dedup records of these tickets for this rule.
    public func dedupRecords(rule: String, tickets: [Int64]) throws(StoreError) -> [Int64: DedupRecord] {
        guard !tickets.isEmpty else { return [:] }
        let wanted = zip(tickets, tickets.dropFirst()).allSatisfy { $0 < $1 } ? tickets : Array(Set(tickets)).sorted()
        return try database.read("read dedup state") { db in
            var result: [Int64: DedupRecord] = [:]
            result.reserveCapacity(wanted.count)
            // The rule's records in ticket order, from the first ticket wanted to the last: a
            // range read costs a fraction of a keyed lookup per ticket. Records of tickets not
            // wanted (notified long ago, closed since) are skipped; past four per ticket wanted,
            // the walk stops and the tickets after it are looked up by key.
            let walk = try db.cachedStatement(sql: "SELECT \(Self.dedupColumns) FROM dedup_state WHERE rule = ? AND ticket BETWEEN ? AND ?")
            let rows = try Row.fetchCursor(walk, arguments: [rule, wanted[0], wanted[wanted.count - 1]])
            var skipped = 0
            var lookUpAfter = wanted[wanted.count - 1]
            while try rows.next() != nil {
                let record = Self.dedupRecord(rule: rule, StatementColumns(walk))
                if wanted.sortedIndex(of: record.ticket) != nil {
                    result[record.ticket] = record
                } else {
                    skipped += 1
                    if skipped > 4 * wanted.count + 64 {
                        lookUpAfter = record.ticket
                        break
                    }
                }
            }
            let rest = wanted.drop { $0 <= lookUpAfter }
            guard !rest.isEmpty else { return result }
            // One statement for any number of tickets: the ids travel as one JSON array and
            // each is a primary-key seek.
            let lookup = try db.cachedStatement(sql: """
                SELECT \(Self.dedupColumns) FROM dedup_state WHERE rule = ? AND ticket IN (SELECT value FROM json_each(?))
                """)
            let looked = try Row.fetchCursor(lookup, arguments: [rule, Array(rest).jsonArray])
            while try looked.next() != nil {
                let record = Self.dedupRecord(rule: rule, StatementColumns(lookup))
                result[record.ticket] = record
            }
            return result
        }
    }

    private static let dedupColumns = "ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source"

    /// A row of `dedupColumns`, read in place.
    private static func dedupRecord(rule: String, _ row: StatementColumns) -> DedupRecord {
        DedupRecord(rule: rule, ticket: row.integer(0) ?? 0, lastNotifiedAt: Date(unixMilliseconds: row.integer(1) ?? 0),
                    scheduledDate: row.text(2), assignedTo: row.integer(3), status: row.text(4), priority: row.text(5),
                    source: row.text(6) ?? "scan")
    }

    /// The tickets that have a dedup record for this rule (notified before, by overdued or
    /// the old system).
    public func dedupTickets(rule: String) throws(StoreError) -> Set<Int64> {
        try database.read("read dedup state") { db in
            var result: Set<Int64> = []
            let rows = try Int64.fetchCursor(db.cachedStatement(sql: "SELECT ticket FROM dedup_state WHERE rule = ?"), arguments: [rule])
            while let ticket = try rows.next() { result.insert(ticket) }
            return result
        }
    }

    /// A number that changes whenever any dedup record is written or deleted, by any process
    /// (a trigger keeps it). Read it before the records it vouches for.
    public func dedupGeneration() throws(StoreError) -> Int64 {
        try database.read("read the dedup generation") { db in try Self.dedupGeneration(db) }
    }

    private static func dedupGeneration(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM dedup_generation WHERE id = 1")) ?? 0
    }

    /// Tickets of this rule that still have an undelivered notification, by destination.
    public func openNotifications(rule: String, tickets: [Int64]) throws(StoreError) -> Set<OpenKey> {
        guard !tickets.isEmpty else { return [] }
        return try database.read("read the queue") { db in
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT ticket, destination FROM notification INDEXED BY notification_open
                WHERE rule = ? AND ticket IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'retrying')
                """), arguments: [rule, tickets.jsonArray])
            var result: Set<OpenKey> = []
            while let row = try rows.next() {
                result.insert(OpenKey(ticket: row[0], destination: row[1]))
            }
            return result
        }
    }

    public struct OpenKey: Hashable, Sendable {
        public var ticket: Int64
        public var destination: String
        public init(ticket: Int64, destination: String) {
            self.ticket = ticket
            self.destination = destination
        }
    }

    // MARK: delivery

    /// Notifications of one destination whose time has come, oldest due first. One that has
    /// an older notification of the same rule and ticket still queued for the destination
    /// waits for it, however soon it is due itself: a change queued while the previous
    /// notification was retrying reaches the receiver after it, never before.
    public func due(destination: String, now: Date, limit: Int, excluding: Set<String> = []) throws(StoreError) -> [OverdueNotification] {
        try database.read("read due notifications") { db in
            try OverdueNotification.fetch(db, where: Self.dueCondition, [destination, now.unixMilliseconds, limit + excluding.count])
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
    /// still queued for one of `destinations` (others wait until their destination is back).
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

    // MARK: withdrawal

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
    public func withdraw(_ ids: [String], at now: Date, reason: String) throws(StoreError) -> [String] {
        guard !ids.isEmpty else { return [] }
        return try database.write("withdraw notifications") { db in
            let withdrawn = try Row.fetchAll(db, sql: """
                UPDATE notification SET status = 'withdrawn', withdrawn_at = ?, last_error = ?
                WHERE id IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'retrying')
                RETURNING id, rule, ticket, created_at
                """, arguments: [now.unixMilliseconds, reason, Self.jsonStrings(ids)])
            var enqueues: Set<DedupEnqueue> = []
            for row in withdrawn { enqueues.insert(DedupEnqueue(rule: row[1], ticket: row[2], at: row[3])) }
            for enqueue in enqueues.sorted(by: { $0.at > $1.at }) {
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
    private static func restoreDedup(after enqueue: DedupEnqueue, _ db: Database) throws {
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
                        priority = json_extract(?4, '$.priority'), source = 'scan'
                    WHERE rule = ?1 AND ticket = ?2
                    """, arguments: [enqueue.rule, enqueue.ticket, at, snapshot])
            } else if past != nil {
                // Newer than any row: imported, or pruned from the history.
                try db.execute(sql: """
                    UPDATE dedup_state SET last_notified_at = past_notified_at, scheduled_date = past_scheduled_date,
                        assigned_to = past_assigned_to, status = past_status, priority = past_priority,
                        source = coalesce(past_source, 'scan')
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
    private static func restoreDedup(ofUnansweredWithdrawal id: String, _ db: Database) throws {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT rule, ticket, created_at FROM notification WHERE id = ? AND status = 'withdrawn'
            """), arguments: [id]) else { return }
        try restoreDedup(after: DedupEnqueue(rule: row[0], ticket: row[1], at: row[2]), db)
    }

    /// A notification withdrawn while its request was under way, and then delivered (or whose
    /// mark was written after the withdrawal): its enqueue notified after all, or may have,
    /// and the dedup state says so again (unless a later enqueue is there).
    private static func reinstateDedup(of id: String, _ db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT rule, ticket, created_at, snapshot FROM notification WHERE id = ?",
                                         arguments: [id]) else { return }
        let rule: String = row[0], ticket: Int64 = row[1], at: Int64 = row[2], snapshot: String = row[3]
        try db.execute(sql: """
            INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source)
            VALUES (?1, ?2, ?3, json_extract(?4, '$.scheduled_date'), json_extract(?4, '$.assigned_to'),
                    json_extract(?4, '$.status'), json_extract(?4, '$.priority'), 'scan')
            ON CONFLICT (rule, ticket) DO UPDATE SET last_notified_at = excluded.last_notified_at,
                scheduled_date = excluded.scheduled_date, assigned_to = excluded.assigned_to, status = excluded.status,
                priority = excluded.priority, source = 'scan'
            WHERE excluded.last_notified_at > dedup_state.last_notified_at
            """, arguments: [rule, ticket, at, snapshot])
        try db.execute(sql: """
            INSERT INTO dedup_scheduled_date (rule, ticket, scheduled_date, notified_at)
            SELECT ?1, ?2, json_extract(?4, '$.scheduled_date'), ?3 WHERE json_extract(?4, '$.scheduled_date') IS NOT NULL
            ON CONFLICT (rule, ticket, scheduled_date) DO UPDATE SET notified_at = max(notified_at, excluded.notified_at)
            """, arguments: [rule, ticket, at, snapshot])
    }

    private struct DedupEnqueue: Hashable {
        var rule: String
        var ticket: Int64
        var at: Int64
    }

    // MARK: operator commands

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

    private static func dead(_ db: Database, where condition: String, arguments: StatementArguments) throws -> [Dead] {
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
    private static let requeueSQL = """
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
    /// `destinations`: those are on hold, never tried, until a destination of that name is
    /// back (a rename does not carry them over). Read from the partial index of the queue.
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
            past_priority = json_extract(gone.snapshot, '$.priority'), past_source = 'scan'
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

extension OverdueNotification {
    static func fetch(_ db: Database, where condition: String, _ arguments: [any DatabaseValueConvertible]) throws -> [OverdueNotification] {
        try Row.fetchAll(db, sql: """
            SELECT id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts,
                   last_http_status, last_error, delivered_at, dead_at, requeued_at, attempts_before_requeue, withdrawn_at,
                   interrupted_attempts
            FROM notification WHERE \(condition)
            """, arguments: StatementArguments(arguments)).map { row in
            OverdueNotification(
                id: row[0], rule: row[1], ticket: row[2], ticketID: row[3], destination: row[4],
                snapshot: Data((row[5] as String).utf8),
                status: NotificationStatus(rawValue: row[6]) ?? .pending,
                createdAt: Date(unixMilliseconds: row[7]), nextAttemptAt: Date(unixMilliseconds: row[8]),
                attempts: row[9], lastHTTPStatus: row[10], lastError: row[11],
                deliveredAt: (row[12] as Int64?).map(Date.init(unixMilliseconds:)),
                deadAt: (row[13] as Int64?).map(Date.init(unixMilliseconds:)),
                requeuedAt: (row[14] as Int64?).map(Date.init(unixMilliseconds:)), attemptsBeforeRequeue: row[15],
                withdrawnAt: (row[16] as Int64?).map(Date.init(unixMilliseconds:)),
                interruptedAttempts: row[17]
            )
        }
    }
}

extension Array where Element == Int64 {
    /// `[1,2,3]`: a list of ids bound as one argument and read with `json_each`, so one
    /// statement serves any number of ids.
    var jsonArray: String {
        var text = "["
        text.reserveCapacity(count * 8 + 2)
        for (index, id) in enumerated() {
            if index > 0 { text += "," }
            text += String(id)
        }
        return text + "]"
    }
}
