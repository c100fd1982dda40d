import Foundation
internal import GRDB
internal import GRDBSQLite
import Synchronization

/// The maintenance app's database. It belongs to the app: overdued opens it strictly
/// read-only (`SQLITE_OPEN_READONLY` plus `PRAGMA query_only`), never changes its journal
/// mode, never checkpoints, and creates nothing in it (see `ReadMode` for a WAL database the
/// app has closed). Readers do not block the app's writers in WAL mode; in rollback mode a
/// long app write makes our read wait at most the busy timeout, after which the tick reports
/// `busy` and tries again next time.
public final class TicketsDatabase: Sendable {
    public let path: String
    public let schema: TicketSchema
    /// `PRAGMA schema_version` when `schema` was taken.
    private let schemaVersion: Int64
    public let readMode: ReadMode

    /// How the connection reads the file.
    public enum ReadMode: Sendable, Equatable {
        /// Through SQLite's locks and, in WAL mode, the app's -wal and -shm files.
        case shared
        /// A WAL database that no program has open (no -shm file beside it: the app's last
        /// connection removed it). A reader opening it normally would create the -wal and
        /// -shm files, owned by overdued's user, and the app could then be refused writes to
        /// its own database. It is read as it stands instead (SQLite's `immutable=1`, which
        /// creates nothing and takes no lock) until the app opens it again
        /// (`TicketsFileChange.walReopened`). Commits left in a -wal by an app that stopped
        /// abruptly are not seen until the app opens the database and recovers them.
        case closedWAL
    }
    let queue: DatabaseQueue
    /// The file opened, taken before opening it: a later file at `path` with another identity
    /// means the database was replaced (a fresh export renamed over the old one).
    private let opened: FileIdentity?
    /// The file as last seen, with this connection's `data_version` then: taken before
    /// opening, and again whenever `fileChange` finds an app commit.
    let lastSeen: Mutex<SeenFile?>
    /// Kept alive as long as the connection whose progress handler points at it.
    private let progress: TickProgress?

    /// - Parameter progress: where the queries report their steps, and how a stop interrupts
    ///   them (the daemon's ticks); kept as long as this database.
    public init(path: String, busyTimeout: Duration = .seconds(5), progress: TickProgress? = nil) throws(StoreError) {
        self.path = path
        self.progress = progress
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            var info = stat()
            if stat(path, &info) != 0, errno == EACCES {
                // There, behind a folder this user may not search: the service without the
                // app's group, or the unit's ProtectHome= hiding /home.
                throw StoreError(.cannotOpen, path: path, message: "the tickets database cannot be reached by this user (uid \(geteuid())): "
                    + "a folder on its path may not be searched (permission denied); give the user read and search access, "
                    + "e.g. through the app's group (see docs/systemd.md, \"The tickets database\")")
            }
            throw StoreError(.cannotOpen, path: path, message: "the tickets database does not exist")
        }
        guard !isDirectory.boolValue else {
            throw StoreError(.cannotOpen, path: path, message: "is a directory, not a database file")
        }
        // A FIFO (or a device) would block the first read for as long as nobody writes to it.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw StoreError(.cannotOpen, path: path, message: "is not a regular file (a FIFO, socket or device), not a database file")
        }
        let stamp = FileStamp(path: path)
        opened = stamp?.identity
        readMode = Self.readMode(path)
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "tickets"
        configuration.busyMode = progress.map { $0.busyMode(timeout: busyTimeout) } ?? .timeout(busyTimeout.timeInterval)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA query_only = 1")
            progress?.install(on: db)
        }
        do {
            queue = try DatabaseQueue(path: readMode == .closedWAL ? Self.immutableURI(path) : path, configuration: configuration)
            let (schema, version, schemaVersion) = try queue.read { db in
                (try Self.inspect(db, path: path), try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0,
                 try Int64.fetchOne(db, sql: "PRAGMA schema_version") ?? 0)
            }
            self.schema = schema
            self.schemaVersion = schemaVersion
            // The -shm this connection maps now (after its first read): every reader of a WAL
            // database shares it, and one made anew behind it leaves this connection blind.
            // (A -shm beside a database not in WAL mode is a leftover, which no reader maps.)
            let walIndex = readMode == .shared && SQLiteFile.isWAL(path) ? FileIdentity(path: SQLiteFile.companion(of: path, "-shm")) : nil
            lastSeen = Mutex(stamp.map { SeenFile(stamp: $0, dataVersion: version, walIndex: walIndex) })
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path, doing: "open the tickets database")
        }
    }

    /// `.closedWAL` for a WAL database without its -shm file, where this SQLite reads
    /// `file:` names as URIs; else `.shared`.
    static func readMode(_ path: String) -> ReadMode {
        guard !FileManager.default.fileExists(atPath: SQLiteFile.companion(of: path, "-shm")), SQLiteFile.isWAL(path),
              sqlite3_compileoption_used("USE_URI") == 1 else { return .shared }
        return .closedWAL
    }

    /// `path` as an SQLite URI that opens it immutable.
    static func immutableURI(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return "file:\(path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path)?immutable=1"
    }

    /// Every column overdued reads, by table: those of `selectSQL` (the candidate and whole-row
    /// query; the narrowing's index reads use three of them) and of `joinedNames`. A database
    /// that lacks one is refused when it is opened, each missing one named, rather than found
    /// out by every tick ("no such column"). The columns the app added later (`TicketSchema`:
    /// deleted_at, is_machine_down, assignee_name) are optional: read when present.
    static let readColumns: KeyValuePairs<String, [String]> = [
        "tickets": ["id", "ticket_id", "title", "description", "machine_id", "status", "priority", "reported_by",
                    "assigned_to", "created_at", "scheduled_date"],
        "machines": ["id", "machine_type", "model", "location"],
        "users": ["id", "full_name"],
    ]

    private static func inspect(_ db: Database, path: String) throws -> TicketSchema {
        let tables = try readColumns.map(\.key).filter { try !db.tableExists($0) }
        guard tables.isEmpty else { throw try missing(tables: tables, db, path: path) }
        var columns: Set<String> = []
        var missing: [String] = []
        for (table, read) in readColumns {
            let present = Set(try db.columns(in: table).map { $0.name.lowercased() })
            if table == "tickets" { columns = present }
            missing += read.filter { !present.contains($0) }.map { "\(table).\($0)" }
        }
        guard missing.isEmpty else {
            throw StoreError(.schema, path: path, message: "lacks \(missing.count == 1 ? "a column" : "columns") overdued reads: \(missing.joined(separator: ", "))")
        }
        let indexed = try indexedColumns(db)
        return TicketSchema(hasDeletedAt: columns.contains("deleted_at"),
                            hasIsMachineDown: columns.contains("is_machine_down"),
                            hasAssigneeName: columns.contains("assignee_name"),
                            hasStatusIndex: indexed.contains("status"),
                            hasScheduledDateIndex: indexed.contains("scheduled_date"))
    }

    /// Why the app's tables are not there, saying what the file holds instead: nothing at
    /// all (a zero-byte file: an export not written yet, a failed copy), or a view by that name.
    private static func missing(tables: [String], _ db: Database, path: String) throws -> StoreError {
        if tables.count == readColumns.count, FileStamp(path: path)?.size == 0 {
            return StoreError(.cannotOpen, path: path, message: "is an empty file (0 bytes), not the maintenance app's database")
        }
        let views = try String.fetchAll(db, sql: "SELECT lower(name) FROM sqlite_master WHERE type = 'view'")
        if let view = tables.first(where: views.contains) {
            return StoreError(.schema, path: path, message: "\(view) is a view, not the app's \(view) table; name the maintenance app's own database (or an export of it)")
        }
        let names = tables.count == 1 ? tables[0] : tables.dropLast().joined(separator: ", ") + " or " + tables[tables.count - 1]
        return StoreError(.schema, path: path, message: "has no \(names) table; is this the maintenance app's database?")
    }

    /// The first columns of the tickets table's indexes that serve any range of that column:
    /// full (not partial) indexes in binary order.
    private static func indexedColumns(_ db: Database) throws -> Set<String> {
        let sql = """
            SELECT x.name FROM pragma_index_list('tickets') AS l, pragma_index_xinfo(l.name) AS x
            WHERE x.seqno = 0 AND l.partial = 0 AND x.coll = 'BINARY'
            """
        return Set(try String.fetchAll(db, sql: sql).map { $0.lowercased() })
    }

    /// The SELECT that every rule shares; rules add only a WHERE condition. Only `tickets`
    /// columns, the narrow ones first (what a `TicketCandidate` holds); the machine and user
    /// names are read afterwards, by id, for the rows that need them (`completeJoins`).
    public func selectSQL(where filter: TicketFilter) -> String {
        selectSQL(where: filter.sql)
    }

    func selectSQL(where condition: String) -> String {
        let deletedAt = schema.hasDeletedAt ? "t.deleted_at" : "NULL"
        let machineDown = schema.hasIsMachineDown ? "t.is_machine_down" : "0"
        let assigneeText = schema.hasAssigneeName ? "t.assignee_name" : "NULL"
        return """
            SELECT t.id, t.ticket_id, t.status, t.priority, t.assigned_to, t.scheduled_date,
                   t.title, t.description, t.machine_id, t.reported_by, \(assigneeText), t.created_at,
                   \(machineDown), \(deletedAt)
            FROM tickets AS t
            WHERE \(condition)
            """
    }

    /// One pass over the rows the filter selects, in id order. `body` sees each row's narrow
    /// columns and may decode the whole row (`full`, without the joined names) while the row is
    /// current: a tick decodes whole only the rows it is about to notify, and so reads no
    /// ticket page twice.
    public func candidates<Result>(where filter: TicketFilter,
                                   _ body: (TicketCandidate, _ full: () -> TicketRecord) -> Result) throws(StoreError) -> [Result] {
        do {
            return try queue.read { db in
                let (sql, arguments) = try rowQuery(db, filter)
                guard let sql else { return [] }
                let statement = try db.cachedStatement(sql: sql)
                let rows = try Row.fetchCursor(statement, arguments: arguments)
                let row = StatementColumns(statement)
                var ids: [Int64] = []
                var results: [Result] = []
                while try rows.next() != nil {
                    let assignedTo = row.integer(4)
                    let candidate = TicketCandidate(id: row.integer(0) ?? 0, ticketID: row.text(1), status: row.text(2),
                                                    priority: row.text(3), assignedTo: assignedTo, scheduledDate: row.text(5),
                                                    unreadableAssignedTo: assignedTo == nil ? row.text(4) : nil)
                    ids.append(candidate.id)
                    results.append(body(candidate, { Self.record(row, candidate) }))
                }
                return Self.inIDOrder(results, ids: ids)
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read tickets")
        }
    }

    /// What recent reads found about narrowing each status set (`NarrowedRead.swift`).
    let plans = Mutex(PlanMemory())

    /// Sorted here, not by ORDER BY, which would make SQLite walk the rowid order (a full scan
    /// instead of the rule's index). An index over a status set yields one id-ordered run per
    /// status: the ids are sorted, and each result is moved once, to its place.
    static func inIDOrder<Result>(_ results: [Result], ids: [Int64]) -> [Result] {
        guard zip(ids, ids.dropFirst()).contains(where: { $0 > $1 }) else { return results }
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        return order.map { results[$0] }
    }

    /// The narrow rows the filter selects, in id order.
    public func candidates(where filter: TicketFilter) throws(StoreError) -> [TicketCandidate] {
        try candidates(where: filter) { candidate, _ in candidate }
    }

    /// The tickets the filter selects, whole, with their joined fields, in id order.
    public func tickets(where filter: TicketFilter) throws(StoreError) -> [TicketRecord] {
        var records = try candidates(where: filter) { _, full in full() }
        try completeJoins(&records)
        return records
    }

    /// The whole rows of these tickets (by tickets.id), in id order, without the machine and
    /// user names (`completeJoins` adds them); ids that no longer exist are absent.
    public func wholeRows(ids: [Int64]) throws(StoreError) -> [TicketRecord] {
        guard !ids.isEmpty else { return [] }
        return try candidates(where: TicketFilter(sql: "t.id IN (SELECT value FROM json_each(?))", arguments: [.text(ids.jsonArray)])) { _, full in
            full()
        }
    }

    /// Fills the machine and user names of these records in place, as `LEFT JOIN`s would:
    /// one primary-key read per distinct machine and user; a missing row leaves the names nil.
    public func completeJoins(_ records: inout [TicketRecord]) throws(StoreError) {
        let names = try joinedNames(of: records)
        for index in records.indices { names.fill(&records[index]) }
    }

    /// `completeJoins` for records by id.
    public func completeJoins(_ records: inout [Int64: TicketRecord]) throws(StoreError) {
        let names = try joinedNames(of: records.values)
        // Walked by index, not `values.indices`, which would hold a second reference to the
        // storage and make the first write copy the whole dictionary.
        var index = records.values.startIndex
        while index != records.values.endIndex {
            names.fill(&records.values[index])
            records.values.formIndex(after: &index)
        }
    }

    /// The machine and user rows these records refer to.
    private struct JoinedNames {
        var machines: [Int64: (type: String?, model: String?, location: String?)] = [:]
        var users: [Int64: String?] = [:]

        func fill(_ record: inout TicketRecord) {
            if let machine = record.machineID.flatMap({ machines[$0] }) {
                (record.machineType, record.machineModel, record.machineLocation) = machine
            }
            record.reporterName = record.reportedBy.flatMap { users[$0] } ?? nil
            record.assigneeName = record.assignedTo.flatMap { users[$0] } ?? nil
        }
    }

    private func joinedNames(of records: some Collection<TicketRecord>) throws(StoreError) -> JoinedNames {
        var machineIDs = Set<Int64>()
        var userIDs = Set<Int64>()
        for record in records {
            if let id = record.machineID { machineIDs.insert(id) }
            if let id = record.reportedBy { userIDs.insert(id) }
            if let id = record.assignedTo { userIDs.insert(id) }
        }
        guard !machineIDs.isEmpty || !userIDs.isEmpty else { return JoinedNames() }
        do {
            return try queue.read { db in
                var names = JoinedNames()
                if !machineIDs.isEmpty {
                    _ = try Self.each(db, sql: "SELECT id, machine_type, model, location FROM machines WHERE id IN (SELECT value FROM json_each(?))",
                                      arguments: [machineIDs.sorted().jsonArray], cached: true) { row in
                        if let id = row.integer(0) { names.machines[id] = (row.text(1), row.text(2), row.text(3)) }
                    }
                }
                if !userIDs.isEmpty {
                    _ = try Self.each(db, sql: "SELECT id, full_name FROM users WHERE id IN (SELECT value FROM json_each(?))",
                                      arguments: [userIDs.sorted().jsonArray], cached: true) { row in
                        if let id = row.integer(0) { names.users[id] = row.text(1) }
                    }
                }
                return names
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read machine and user names")
        }
    }

    /// Whether the file at `path` is no longer the one this connection reads: it was replaced
    /// (renamed over, or deleted and created again). An open connection keeps reading the old
    /// file for ever, so the owner should open the new one. False when the path cannot be
    /// examined now (a replacement in progress): the old file is still readable.
    public func fileWasReplaced() -> Bool {
        guard let opened, let current = FileIdentity(path: path) else { return false }
        return current != opened
    }

    /// Gives back SQLite's page cache of this connection (the daemon calls it after each
    /// tick: an idle daemon holds no pages it will re-read anyway after the app's next write).
    /// The connection stays open, so `dataVersion()` keeps its meaning.
    public func releaseMemory() {
        guard !isClosed else { return }
        queue.releaseMemory()
    }

    /// Closes the connection; every read through this object fails from then on. A new
    /// connection to the same file does not see past a stale WAL index while another one of
    /// this process is open on the file: SQLite's unix layer shares one mapping of the -shm
    /// among all of a process's connections to a file. Close the old one first.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? queue.close()
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }
    private let closed = Atomic<Bool>(false)

    /// Whether the app changed its tables since this connection took `schema` (one read of
    /// the file's header). Throws what the read met: busy (the app's lock held past
    /// `busy_timeout`, after waiting that long: the tick is skipped then, rather than wait as
    /// long again for its own read), or anything else, which the tick's own read says.
    public func schemaChanged() throws(StoreError) -> Bool {
        do {
            return try queue.read { db in try Int64.fetchOne(db, sql: "PRAGMA schema_version") ?? 0 } != schemaVersion
        } catch {
            throw Self.failure(error, path: path, doing: "read the database's schema version")
        }
    }

    /// SQLite's `PRAGMA data_version` on this connection: it changes whenever another
    /// connection (the app) commits to the database, and only then. Read it before a query
    /// whose result is remembered, so that a commit racing the query makes the next value
    /// differ rather than hide the change.
    public func dataVersion() throws(StoreError) -> Int64 {
        do {
            return try queue.read { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
        } catch {
            throw Self.failure(error, path: path, doing: "read the database's change counter")
        }
    }

    /// `EXPLAIN QUERY PLAN` of the rule's query, one detail line per step.
    /// With a narrowing, the plans of its statements in the order they run: the status ids,
    /// the dates, the rows by id.
    /// A filter read as a status set (`complement`) shows the plan of that set: the statuses
    /// present now, less the excluded ones.
    public func queryPlan(where filter: TicketFilter) throws(StoreError) -> [String] {
        do {
            return try queue.read { db in
                var filter = filter
                if let complement = filter.complement, let statuses = try Self.presentStatuses(db, excluding: complement.excluded) {
                    guard !statuses.isEmpty else { return ["no ticket has a status the rule keeps: nothing to read"] }
                    filter = complement.filter(statuses: statuses)
                }
                var statements = [(selectSQL(where: filter), filter.statementArguments)]
                if let narrowing = filter.narrowing {
                    statements = [
                        (Self.statusIDsSQL(narrowing), Self.statusIDsArguments(narrowing)),
                        (Self.datesSQL, [narrowing.notDueFrom]),
                        (selectSQL(where: Self.byIDCondition + narrowing.rowSQL),
                         StatementArguments(["[1]".databaseValue] + narrowing.rowArguments.map(\.databaseValue))),
                    ]
                }
                return try statements.flatMap { sql, arguments in
                    try Self.each(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments) { row in row.text(3) ?? "" }
                }
            }
        } catch {
            throw Self.failure(error, path: path, doing: "explain a rule's query")
        }
    }

    /// Runs a read-only statement and returns its rows as text (for `import-legacy` and
    /// diagnostics).
    public func rows(sql: String, arguments: [SQLArgument] = []) throws(StoreError) -> [[String?]] {
        do {
            return try queue.read { db in
                try Self.each(db, sql: sql, arguments: StatementArguments(arguments.map(\.databaseValue))) { row in
                    (0..<row.count).map { row.text($0) }
                }
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read")
        }
    }

    /// Each row of `sql` as text (NULL as nil), one at a time and not kept: for a table that
    /// may hold millions of rows (the old system's log, which logged every tick once its
    /// dedup broke). Returns how many rows there were.
    @discardableResult
    public func forEachRow(sql: String, arguments: [SQLArgument] = [], _ body: ([String?]) -> Void) throws(StoreError) -> Int {
        do {
            return try queue.read { db in
                let statement = try db.makeStatement(sql: sql)
                let rows = try Row.fetchCursor(statement, arguments: StatementArguments(arguments.map(\.databaseValue)))
                let row = StatementColumns(statement)
                var count = 0
                while try rows.next() != nil {
                    body((0..<row.count).map { row.text($0) })
                    count += 1
                }
                return count
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read")
        }
    }

    /// The distinct text values of a column with how many tickets hold each, byte-distinct as
    /// SQLite compares them (read from the column's index where the app has one). Values
    /// that are not text (NULL, numbers) are left out: no listed value can match them.
    public func valueCounts(of column: TicketColumn) throws(StoreError) -> [TicketColumn.ValueCount] {
        let sql = "SELECT \(column.rawValue), count(*) FROM tickets WHERE typeof(\(column.rawValue)) = 'text' GROUP BY \(column.rawValue)"
        do {
            return try queue.read { db in
                try Self.each(db, sql: sql, arguments: []) { row in
                    TicketColumn.ValueCount(value: row.text(0) ?? "", tickets: Int(row.integer(1) ?? 0))
                }
            }
        } catch {
            throw Self.failure(error, path: path, doing: "count the tickets' \(column.plural)")
        }
    }

    /// tickets.id of a human ticket id (`IGP-2026-0042`), if there is one.
    public func internalID(ticketID: String) throws(StoreError) -> Int64? {
        let first = try rows(sql: "SELECT id FROM tickets WHERE ticket_id = ?", arguments: [.text(ticketID)]).first?.first
        return first.flatMap { $0 }.flatMap { Int64($0) }
    }

    public func tableExists(_ name: String) throws(StoreError) -> Bool {
        do {
            return try queue.read { db in try db.tableExists(name) }
        } catch {
            throw Self.failure(error, path: path, doing: "inspect the schema")
        }
    }

    /// `body` applied to each row of a query, read through `StatementColumns`; `cached` keeps
    /// the statement compiled for the next call (a tick's queries), otherwise it is one-off.
    static func each<Result>(_ db: Database, sql: String, arguments: StatementArguments, cached: Bool = false,
                                     _ body: (StatementColumns) -> Result) throws -> [Result] {
        let statement = cached ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        let row = StatementColumns(statement)
        var results: [Result] = []
        while try rows.next() != nil { results.append(body(row)) }
        return results
    }

    /// A row of `selectSQL` as a record without the joined names.
    private static func record(_ row: StatementColumns, _ candidate: TicketCandidate) -> TicketRecord {
        TicketRecord(
            id: candidate.id,
            ticketID: candidate.ticketID,
            title: row.text(6),
            description: row.text(7),
            status: candidate.status,
            priority: candidate.priority,
            machineID: row.integer(8),
            reportedBy: row.integer(9),
            assignedTo: candidate.assignedTo,
            assigneeNameText: row.text(10),
            createdAt: row.text(11),
            scheduledDate: candidate.scheduledDate,
            isMachineDown: (row.integer(12) ?? 0) != 0,
            deletedAt: row.text(13)
        )
    }
}

extension SQLArgument {
    var databaseValue: DatabaseValue {
        switch self {
        case .text(let text): text.databaseValue
        case .integer(let value): value.databaseValue
        case .blob(let bytes): bytes.databaseValue
        }
    }
}

extension TicketFilter {
    var statementArguments: StatementArguments {
        StatementArguments(arguments.map(\.databaseValue))
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

extension TicketsDatabase {
    /// SQLite's refusals to read a WAL-mode database whose -wal and -shm files are missing (or
    /// unusable) when this reader may not create them, which it words "attempt to write a
    /// readonly database" although a reader writes nothing.
    static let walReaderRefusals: [ResultCode] = [
        .SQLITE_READONLY_RECOVERY, .SQLITE_READONLY_CANTLOCK, .SQLITE_READONLY_CANTINIT, .SQLITE_READONLY_DIRECTORY,
    ]

    /// Whether the database at `path` has its -shm (the WAL index every reader maps) beside it,
    /// beside the file a link at `path` points to.
    public static func walIndexExists(path: String) -> Bool {
        FileManager.default.fileExists(atPath: SQLiteFile.companion(of: path, "-shm"))
    }

    /// The -wal or -shm file beside `path` that exists but this user may not read, if any.
    static func unreadableWALFile(of path: String) -> String? {
        for file in [SQLiteFile.companion(of: path, "-wal"), SQLiteFile.companion(of: path, "-shm")] where access(file, F_OK) == 0 && access(file, R_OK) != 0 {
            return file
        }
        return nil
    }

    /// `StoreError.from` for this database, which overdued only reads: a WAL refusal is
    /// explained as what it is, not left to suggest that overdued writes.
    static func failure(_ error: any Error, path: String, doing action: String) -> StoreError {
        if let error = error as? DatabaseError, error.extendedResultCode == .SQLITE_READONLY_ROLLBACK {
            return StoreError(.busy, path: path, message: """
                could not \(action): a write of the app was interrupted (\(SQLiteFile.companion(of: path, "-journal")), a "hot journal", is beside \
                it) and SQLite must roll it back before anyone reads the database, which overdued, opening it \
                read-only, may not do. overdued writes nothing to it: the app's next open of the database rolls the \
                write back (or `sqlite3 \(path) "PRAGMA quick_check"` run by a user who may write in its folder); the \
                ticks read it again from then on
                """)
        }
        if let error = error as? DatabaseError, error.resultCode.primaryResultCode == .SQLITE_CANTOPEN,
           let unreadable = unreadableWALFile(of: path) {
            // SQLite's "unable to open database file" names neither.
            var info = stat()
            var mode = "?"
            if stat(unreadable, &info) == 0 {
                let bits = String(info.st_mode & 0o7777, radix: 8)
                mode = "owned by uid \(info.st_uid), gid \(info.st_gid)\(StateFileAccess.outsideNamespace(info.st_uid)), mode 0" + bits
            }
            return StoreError(.cannotOpen, path: path, message: """
                could not \(action): \(unreadable) is not readable by this user (\(mode); this process runs as uid \(geteuid())): \
                a reader of a WAL-mode database reads its -wal and -shm files too. Give overdued read access to them, \
                e.g. through the app's group (chmod 0640; the app's umask decides the mode SQLite gives new ones); \
                see docs/systemd.md, "The tickets database (read-only, WAL)"
                """)
        }
        guard let error = error as? DatabaseError, walReaderRefusals.contains(error.extendedResultCode) else {
            // Its folder is read-only by design (ProtectSystem=strict): no disk error to hint at.
            return StoreError.from(error, path: path, doing: action, writable: false)
        }
        // Where SQLite would create them: beside the file a link at `path` points to.
        let folder = (SQLiteFile.resolved(path) as NSString).deletingLastPathComponent
        return StoreError(.cannotOpen, path: path, message: """
            could not \(action): it is a WAL-mode database, and SQLite lets a reader read one only while its -wal \
            and -shm files exist beside it, or when the reader may create them; they are missing (or unusable) and \
            overdued may not write in \(folder). overdued writes nothing to the database: let the app keep it open \
            (its -wal and -shm files then exist) or give overdued write access to that folder; see docs/systemd.md, \
            "The tickets database (read-only, WAL)"
            """)
    }
}
