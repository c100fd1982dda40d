internal import Algorithms
import Foundation
internal import GRDB
import Synchronization

/// How a rule on a status set reads its rows (`TicketFilter.Narrowing`): the ids of the status
/// set from the status index, less those the scheduled_date index shows not due, then the rest
/// by id; or, where that does not pay, the filter's own query.
extension TicketsDatabase {
    /// How `candidates` read a filter's rows.
    public enum ReadPlan: Sendable, Equatable {
        /// The filter's own query: it has no narrowing, or a recent probe found that narrowing
        /// did not pay for this status set.
        case plain
        /// Narrowed: the index reads left these tickets out, the rest were read by id.
        case narrowed(NarrowingOutcome)
        /// Narrowing was tried and left out too few tickets to pay for its index reads: the
        /// filter's own query read the rows, and the next reads of this status set will too.
        case probedThenPlain(NarrowingOutcome)
    }

    /// The plan of the last `candidates` call, for tests and diagnostics.
    public var lastReadPlan: ReadPlan { plans.withLock { $0.last } }

    /// After a probe that did not pay, this many reads of that status set go plain before the
    /// next probe (about an hour of ticks at the default 5 minutes): the shape of the app's
    /// data changes slowly.
    public static let plainReadsAfterAProbe = 11

    struct PlanMemory {
        var last = ReadPlan.plain
        var plainReadsLeft: [[String]: Int] = [:]
    }

    /// The statement that reads the filter's rows, with its arguments; nil when a narrowing
    /// leaves no ticket to read. Runs the narrowing's index reads, so call it inside the read
    /// transaction of the rows.
    func rowQuery(_ db: Database, _ filter: TicketFilter) throws -> (String?, StatementArguments) {
        if let complement = filter.complement, let statuses = try Self.presentStatuses(db, excluding: complement.excluded) {
            guard !statuses.isEmpty else { return (nil, []) }
            return try rowQuery(db, complement.filter(statuses: statuses))
        }
        let plain = (selectSQL(where: filter), filter.statementArguments)
        guard let narrowing = filter.narrowing, shouldProbe(narrowing) else {
            plans.withLock { $0.last = .plain }
            return plain
        }
        let narrowed = try Self.narrowedIDs(db, narrowing)
        guard narrowed.outcome.pays else {
            plans.withLock { memory in
                memory.last = .probedThenPlain(narrowed.outcome)
                memory.plainReadsLeft[narrowing.statuses] = Self.plainReadsAfterAProbe
            }
            return plain
        }
        plans.withLock { $0.last = .narrowed(narrowed.outcome) }
        guard !narrowed.ids.isEmpty else { return (nil, []) }
        return (selectSQL(where: Self.byIDCondition + narrowing.rowSQL),
                StatementArguments([narrowed.ids.jsonArray.databaseValue] + narrowing.rowArguments.map(\.databaseValue)))
    }

    /// Whether to narrow this read: yes unless a recent probe of this status set did not pay.
    private func shouldProbe(_ narrowing: TicketFilter.Narrowing) -> Bool {
        plans.withLock { memory in
            guard let left = memory.plainReadsLeft[narrowing.statuses], left > 0 else { return true }
            memory.plainReadsLeft[narrowing.statuses] = left - 1
            return false
        }
    }

    /// The statuses of the table's tickets less `excluded` (compared by SQLite, as the rule's
    /// `NOT IN` compares), in index order: one seek of the status index per distinct value.
    /// nil when the set cannot stand for the exclusion, and the date index drives instead: a
    /// status that is not text (a blob), or whose bytes a bound string cannot restate (not
    /// UTF-8, a NUL inside: read as a string, it would no longer equal itself in `IN (…)`);
    /// a NULL status (selected by the exclusion, for the engine to warn about); or more
    /// distinct values than a status set should list (garbage in the column).
    static func presentStatuses(_ db: Database, excluding excluded: [String]) throws -> [String]? {
        if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM tickets WHERE status IS NULL)") == true { return nil }
        let marks = Array(repeating: "?", count: excluded.count).joined(separator: ", ")
        let sql = """
            WITH RECURSIVE present(status) AS (
                SELECT (SELECT min(status) FROM tickets)
                UNION ALL
                SELECT (SELECT min(status) FROM tickets WHERE status > present.status) FROM present
                WHERE present.status IS NOT NULL LIMIT \(maximumPresentStatuses + 1))
            SELECT status, typeof(status) = 'text', status NOT IN (\(marks)), CAST(status AS BLOB) FROM present WHERE status IS NOT NULL
            """
        var kept: [String] = []
        var count = 0
        let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(excluded))
        while let row = try rows.next() {
            count += 1
            guard count <= maximumPresentStatuses, row[1] as Bool, let status = row[0] as String?,
                  let bytes = row[3] as Data?, bytes.elementsEqual(status.utf8) else { return nil }
            if row[2] as Bool { kept.append(status) }
        }
        return kept
    }

    /// The most distinct statuses `presentStatuses` lists; past it, the date index drives.
    static let maximumPresentStatuses = 64

    static let byIDCondition = "t.id IN (SELECT value FROM json_each(?)) AND "

    /// What a narrowing's index reads found.
    public struct NarrowingOutcome: Sendable, Equatable {
        /// Tickets of the status set.
        public var inStatuses: Int
        /// Entries of the scheduled_date index read (dates at or after the bound).
        public var datesRead: Int
        /// Tickets of the status set left out as not due.
        public var notDue: Int
        /// Whether the date read stopped before the end of its range (see `narrowedIDs`).
        public var stoppedEarly: Bool

        /// Whether reading the rest by id beats the filter's own query: it does when at least
        /// a quarter of the status set is left out (each saves a table seek and its page read;
        /// reading by id costs an ephemeral list of the ids).
        public var pays: Bool { notDue * 4 >= inStatuses }
    }

    /// The ids a narrowing leaves to read, and what its index reads found.
    public struct NarrowedIDs: Sendable, Equatable {
        /// Sorted.
        public var ids: [Int64]
        public var outcome: NarrowingOutcome
    }

    /// The ids a narrowed filter reads rows for, and what it took to find them; nil when the
    /// filter has no narrowing. For tests and diagnostics: `candidates` does the same inside
    /// its own read.
    public func narrowedIDs(where filter: TicketFilter) throws(StoreError) -> NarrowedIDs? {
        guard let narrowing = filter.narrowing else { return nil }
        do {
            return try queue.read { db in try Self.narrowedIDs(db, narrowing) }
        } catch {
            throw Self.failure(error, path: path, doing: "read tickets")
        }
    }

    /// The status index's ids less those not due by the scheduled_date index; both reads are
    /// index-only. An index entry read costs about a fifth of what a ticket left out saves
    /// (callgrind, 1M demo: ~1,450 instructions an entry against ~7,000 for a row read, plus
    /// its page read after an app commit), so the date read goes on while at least one entry
    /// in four leaves a ticket out, after an allowance of an eighth of the status set; past
    /// that, the rest of the range (dates of closed tickets, say) is not worth reading. The
    /// tickets left out so far stay out, and the result stays exact.
    private static func narrowedIDs(_ db: Database, _ narrowing: TicketFilter.Narrowing) throws -> NarrowedIDs {
        // A sorted array, searched by halves, costs a fraction of a hash set here: the status
        // index yields one sorted run per value listed (each status as text, and as a blob),
        // and no id is inserted twice. Usually one run holds them all: sorted only when not.
        var open = try each(db, sql: statusIDsSQL(narrowing), arguments: statusIDsArguments(narrowing), cached: true) { row in
            row.integer(0) ?? 0
        }
        if !zip(open, open.dropFirst()).allSatisfy({ $0 < $1 }) { open.sort() }
        var outcome = NarrowingOutcome(inStatuses: open.count, datesRead: 0, notDue: 0, stoppedEarly: false)
        var notDue = [Bool](repeating: false, count: open.count)
        if !open.isEmpty {
            let statement = try db.cachedStatement(sql: datesSQL)
            let rows = try Row.fetchCursor(statement, arguments: [narrowing.notDueFrom])
            let row = StatementColumns(statement)
            while try rows.next() != nil {
                if outcome.datesRead >= outcome.inStatuses / 8 + 4 * outcome.notDue {
                    outcome.stoppedEarly = true
                    break
                }
                outcome.datesRead += 1
                if let id = row.integer(0), let index = open.sortedIndex(of: id), !notDue[index], row.isDateShapedText(1) {
                    notDue[index] = true
                    outcome.notDue += 1
                }
            }
        }
        return NarrowedIDs(ids: zip(open, notDue).compactMap { id, notDue in notDue ? nil : id }, outcome: outcome)
    }

    /// The arguments of `statusIDsSQL`.
    static func statusIDsArguments(_ narrowing: TicketFilter.Narrowing) -> StatementArguments {
        StatementArguments(SQLArgument.listed(narrowing.statuses).map(\.databaseValue))
    }

    static func statusIDsSQL(_ narrowing: TicketFilter.Narrowing) -> String {
        "SELECT t.id FROM tickets AS t WHERE t.status IN (\(SQLArgument.listMarks(narrowing.statuses)))"
    }

    /// Index entries whose date text is at or after the bound and starts with a digit (those
    /// that can be date-shaped; words such as `'null'` sort after `':'`).
    static let datesSQL = "SELECT t.id, t.scheduled_date FROM tickets AS t WHERE t.scheduled_date >= ? AND t.scheduled_date < ':'"
}

extension [Int64] {
    /// The index of `value` in this sorted array, if it is there.
    func sortedIndex(of value: Int64) -> Int? {
        let index = partitioningIndex { $0 >= value }
        return index < endIndex && self[index] == value ? index : nil
    }
}

