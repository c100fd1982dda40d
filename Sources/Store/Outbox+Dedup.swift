public import Foundation
internal import GRDB
internal import Algorithms

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
    /// The human id (`tickets.ticket_id`) of the ticket notified, nil when not known (imported,
    /// written before v12, or a row without one): the app's database restored from a backup
    /// hands `tickets.id` out again, and this tells the new ticket from the lost one.
    public var ticketID: String?

    public init(rule: String, ticket: Int64, lastNotifiedAt: Date, scheduledDate: String?, assignedTo: Int64?,
                status: String?, priority: String?, source: String = "scan", ticketID: String? = nil) {
        self.rule = rule
        self.ticket = ticket
        self.lastNotifiedAt = lastNotifiedAt
        self.scheduledDate = scheduledDate
        self.assignedTo = assignedTo
        self.status = status
        self.priority = priority
        self.source = source
        self.ticketID = ticketID
    }
}

extension Outbox {
    /// The records of `keys` still dated after `limit` (the clock was set back since they were
    /// written) re-dated to `now`: their notification may have gone out a moment ago, and
    /// `repeat.every` runs from now. A record written meanwhile by another process (dated by
    /// the same clock) is left as it is, and so is one whose notification is still queued for
    /// one of `destinations` (those the config defines; one for a destination gone from it is
    /// withdrawn by the tick): a withdrawal gives its state back by its date (`restoreDedup`), and
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
    static func recordScheduledDates(_ records: [DedupRecord], _ db: Database, keepingDatesOf: Set<String>? = nil,
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

    /// The dates and the past of a rule and ticket, when they are another ticket's (see
    /// `enqueue`'s `forgetting`); the record itself is replaced by the new one.
    static func forget(_ key: DedupKey, _ db: Database) throws {
        let arguments: StatementArguments = [key.rule, key.ticket]
        try db.execute(sql: "DELETE FROM dedup_scheduled_date WHERE rule = ? AND ticket = ?", arguments: arguments)
        try db.execute(sql: """
            UPDATE dedup_state SET past_notified_at = NULL, past_scheduled_date = NULL, past_assigned_to = NULL,
                past_status = NULL, past_priority = NULL, past_source = NULL, past_ticket_id = NULL
            WHERE rule = ? AND ticket = ?
            """, arguments: arguments)
    }

    static func upsert(_ records: [DedupRecord], _ db: Database, keepingDatesOf: Set<String>? = nil,
                               checkpoint: TickProgress? = nil) throws {
        try recordScheduledDates(records, db, keepingDatesOf: keepingDatesOf, checkpoint: checkpoint)
        try BulkInsert.run(db, checkpoint: checkpoint, """
            INSERT INTO dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source, ticket_id)
            """, row: "(?, ?, ?, ?, ?, ?, ?, ?, ?)", records, then: """
            ON CONFLICT (rule, ticket) DO UPDATE SET
                last_notified_at = excluded.last_notified_at, scheduled_date = excluded.scheduled_date,
                assigned_to = excluded.assigned_to, status = excluded.status, priority = excluded.priority,
                source = excluded.source, ticket_id = excluded.ticket_id
            """) { r, bind in
            bind.text(r.rule); bind.integer(r.ticket); bind.integer(r.lastNotifiedAt.unixMilliseconds); bind.text(r.scheduledDate)
            bind.integer(r.assignedTo); bind.text(r.status); bind.text(r.priority); bind.text(r.source); bind.text(r.ticketID)
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
                        past_status = ?6, past_priority = ?7, past_source = ?8, past_ticket_id = ?9
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
                                                 record.assignedTo, record.status, record.priority, record.source, record.ticketID])
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
    static func pauseAfterImportBatch(_ started: ContinuousClock.Instant) {
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

    static let dedupColumns = "ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source, ticket_id"

    /// A row of `dedupColumns`, read in place.
    static func dedupRecord(rule: String, _ row: StatementColumns) -> DedupRecord {
        DedupRecord(rule: rule, ticket: row.integer(0) ?? 0, lastNotifiedAt: Date(unixMilliseconds: row.integer(1) ?? 0),
                    scheduledDate: row.text(2), assignedTo: row.integer(3), status: row.text(4), priority: row.text(5),
                    source: row.text(6) ?? "scan", ticketID: row.text(7))
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

    static func dedupGeneration(_ db: Database) throws -> Int64 {
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
}
