public import Foundation

/// One row of the app's `tickets` table joined to its machine, assignee and reporter, as
/// stored: nothing is parsed or cleaned here. The app's data is dirty (NULLs in columns that
/// are NOT NULL by convention, integers where text belongs, invalid UTF-8), so every field
/// that can be missing is optional and the rules engine decides what a row means.
public struct TicketRecord: Sendable, Equatable {
    public var id: Int64
    public var ticketID: String?
    public var title: String?
    public var description: String?
    public var status: String?
    public var priority: String?
    public var machineID: Int64?
    public var machineType: String?
    public var machineModel: String?
    public var machineLocation: String?
    public var reportedBy: Int64?
    public var reporterName: String?
    /// NULL: unassigned; 0: the whole team.
    public var assignedTo: Int64?
    /// users.full_name of `assignedTo`; nil when the user row is missing.
    public var assigneeName: String?
    /// The free-text `tickets.assignee_name` column.
    public var assigneeNameText: String?
    public var createdAt: String?
    /// Exactly as stored; see the date parser in Scheduler for the formats seen.
    public var scheduledDate: String?
    public var isMachineDown: Bool
    public var deletedAt: String?

    public init(id: Int64, ticketID: String? = nil, title: String? = nil, description: String? = nil,
                status: String? = nil, priority: String? = nil, machineID: Int64? = nil,
                machineType: String? = nil, machineModel: String? = nil, machineLocation: String? = nil,
                reportedBy: Int64? = nil, reporterName: String? = nil, assignedTo: Int64? = nil,
                assigneeName: String? = nil, assigneeNameText: String? = nil, createdAt: String? = nil,
                scheduledDate: String? = nil, isMachineDown: Bool = false, deletedAt: String? = nil) {
        self.id = id
        self.ticketID = ticketID
        self.title = title
        self.description = description
        self.status = status
        self.priority = priority
        self.machineID = machineID
        self.machineType = machineType
        self.machineModel = machineModel
        self.machineLocation = machineLocation
        self.reportedBy = reportedBy
        self.reporterName = reporterName
        self.assignedTo = assignedTo
        self.assigneeName = assigneeName
        self.assigneeNameText = assigneeNameText
        self.createdAt = createdAt
        self.scheduledDate = scheduledDate
        self.isMachineDown = isMachineDown
        self.deletedAt = deletedAt
    }
}

/// The columns of a ticket that decide whether a rule selects it and whether dedup lets a
/// notification through: the narrow first phase of a tick, cheap to read and to keep.
public struct TicketCandidate: Sendable, Equatable {
    public var id: Int64
    public var ticketID: String?
    public var status: String?
    public var priority: String?
    /// NULL: unassigned; 0: the whole team.
    public var assignedTo: Int64?
    /// Exactly as stored.
    public var scheduledDate: String?
    /// `assigned_to` as text when it holds something that is neither NULL nor a whole number
    /// (`'abc'`, `''`, `1.5`): such a row names no assignee, though `assigned_to IS NOT NULL`
    /// selects it, and `assignedTo` is then nil.
    public var unreadableAssignedTo: String?

    public init(id: Int64, ticketID: String? = nil, status: String? = nil, priority: String? = nil,
                assignedTo: Int64? = nil, scheduledDate: String? = nil, unreadableAssignedTo: String? = nil) {
        self.id = id
        self.ticketID = ticketID
        self.status = status
        self.priority = priority
        self.assignedTo = assignedTo
        self.scheduledDate = scheduledDate
        self.unreadableAssignedTo = unreadableAssignedTo
    }
}

/// A parameterised condition on the `tickets` table (alias `t`), produced by the rules
/// engine. Values are bound, never spliced into the SQL text.
public struct TicketFilter: Sendable, Equatable {
    public var sql: String
    public var arguments: [SQLArgument]
    /// A cheaper way to the same rows, when the schema allows it; nil: `sql` drives.
    public var narrowing: Narrowing?
    /// The same rows as a status set, known once the statuses present are read; nil: `sql`
    /// (or `narrowing`) reads them.
    public var complement: Complement?

    public init(sql: String, arguments: [SQLArgument], narrowing: Narrowing? = nil, complement: Complement? = nil) {
        self.sql = sql
        self.arguments = arguments
        self.narrowing = narrowing
        self.complement = complement
    }

    /// The filter on a status set: the status index drives `IN`, the others follow; with
    /// `notDueFrom` (the scheduled_date index's bound, see `Narrowing`), it narrows.
    /// - Parameters:
    ///   - conditions: every other condition, none driving (`+t.column`).
    ///   - arguments: the conditions' arguments.
    public static func statusSet(_ statuses: [String], conditions: String, arguments: [SQLArgument],
                                 notDueFrom: String?) -> TicketFilter {
        let marks = SQLArgument.listMarks(statuses)
        let statusArguments = SQLArgument.listed(statuses)
        let narrowing = notDueFrom.map {
            Narrowing(statuses: statuses, notDueFrom: $0, rowSQL: "+t.status IN (\(marks)) AND " + conditions,
                      rowArguments: statusArguments + arguments)
        }
        return TicketFilter(sql: "t.status IN (\(marks)) AND " + conditions, arguments: statusArguments + arguments, narrowing: narrowing)
    }

    /// A filter with `status_not_in` and no status set, read as a status set: the statuses
    /// present in the table less the excluded ones. They are read in the rows' own read
    /// transaction, from the status index (a seek per distinct value), so no ticket of a
    /// status new to the table is missed. The status index then drives, as for `status_in`,
    /// instead of the scheduled_date index reading every past-dated ticket, the closed ones
    /// included, whose number grows for as long as the app is used.
    public struct Complement: Sendable, Equatable {
        public var excluded: [String]
        /// For `statusSet`: every condition of the filter (the exclusion among them), none driving.
        public var conditions: String
        public var arguments: [SQLArgument]
        public var notDueFrom: String?

        public init(excluded: [String], conditions: String, arguments: [SQLArgument], notDueFrom: String?) {
            self.excluded = excluded
            self.conditions = conditions
            self.arguments = arguments
            self.notDueFrom = notDueFrom
        }

        /// The filter on these statuses (those present, less the excluded ones).
        public func filter(statuses: [String]) -> TicketFilter {
            TicketFilter.statusSet(statuses, conditions: conditions, arguments: arguments, notDueFrom: notDueFrom)
        }
    }

    /// The rows of a filter on a status set, read without a table seek per ticket of the set.
    ///
    /// The status index yields every ticket of the set, most of them not due yet: each would
    /// cost a table seek (after an app commit, a page read) only to learn its date. Instead
    /// the ids come from two index-only reads in one transaction: the status index's ids, less
    /// those that the scheduled_date index shows with a date-shaped text (`ScheduledDateText`)
    /// at or after `notDueFrom`. Only the rest are read, by id, and `rowSQL` (every condition
    /// of the filter) is applied to them, so the rows are exactly those `sql` selects: an id is
    /// left out only when its date fails the filter's own date condition.
    public struct Narrowing: Sendable, Equatable {
        public var statuses: [String]
        /// `YYYY-MM-DD`: the filter's date bound. A date-shaped text at or above it is not due.
        public var notDueFrom: String
        /// The filter's conditions for rows read by id: the same as `sql`, none of them driving.
        public var rowSQL: String
        public var rowArguments: [SQLArgument]

        public init(statuses: [String], notDueFrom: String, rowSQL: String, rowArguments: [SQLArgument]) {
            self.statuses = statuses
            self.notDueFrom = notDueFrom
            self.rowSQL = rowSQL
            self.rowArguments = rowArguments
        }
    }
}

/// What every readable scheduled_date starts with (`YYYY-MM-DD`), in SQL and in Swift.
public enum ScheduledDateText {
    /// The SQL `GLOB` form.
    public static let globPattern = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"

    /// Whether UTF-8 text matches `globPattern` (GLOB compares bytes, as this does).
    public static func isDateShaped(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 10 else { return false }
        for index in 0..<10 {
            let byte = bytes[index]
            let isDash = index == 4 || index == 7
            guard isDash ? byte == 45 : (byte >= 48 && byte <= 57) else { return false }
        }
        return true
    }

    public static func isDateShaped(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isDateShaped($0) }
    }
}

public enum SQLArgument: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case blob(Data)

    /// The values of a rule's list (`status_in`, `status_not_in`, `priority_in`) as an `IN (…)`
    /// compares them: each as text, then the same bytes as a blob. A driver that binds strings
    /// as bytes stores a status as a blob, which SQL equals to no text: a closed ticket would
    /// escape `status_not_in`, an open one `status_in`. Read as its text, as a date or an
    /// assignee stored so is. `listMarks` gives the placeholders.
    public static func listed(_ values: [String]) -> [SQLArgument] {
        values.map(SQLArgument.text) + values.map { .blob(Data($0.utf8)) }
    }

    /// `?, ?, …` for `listed(values)`.
    public static func listMarks(_ values: [String]) -> String {
        Array(repeating: "?", count: values.count * 2).joined(separator: ", ")
    }
}

/// Which optional columns the app's schema has: `deleted_at` and `is_machine_down` were
/// added later, and older exports lack them. And which of the app's indexes a rule's query
/// can count on: one whose first column is `status`, and one whose first column is
/// `scheduled_date` (full, not partial, in binary order: a range of the column is a range of
/// the index).
public struct TicketSchema: Sendable, Equatable {
    public var hasDeletedAt: Bool
    public var hasIsMachineDown: Bool
    public var hasAssigneeName: Bool
    public var hasStatusIndex: Bool
    public var hasScheduledDateIndex: Bool

    public init(hasDeletedAt: Bool = true, hasIsMachineDown: Bool = true, hasAssigneeName: Bool = true,
                hasStatusIndex: Bool = true, hasScheduledDateIndex: Bool = true) {
        self.hasDeletedAt = hasDeletedAt
        self.hasIsMachineDown = hasIsMachineDown
        self.hasAssigneeName = hasAssigneeName
        self.hasStatusIndex = hasStatusIndex
        self.hasScheduledDateIndex = hasScheduledDateIndex
    }

    /// What a tick costs without the app's indexes on `status` and `scheduled_date` (the app's
    /// schema has both; an app upgrade or a restore may drop them): nil when both are there.
    /// overdued does not create them: it never writes to this database.
    public var missingIndexes: String? {
        let missing = [hasStatusIndex ? nil : "status", hasScheduledDateIndex ? nil : "scheduled_date"].compactMap { $0 }
        guard !missing.isEmpty else { return nil }
        let statements = missing.map { "CREATE INDEX idx_tickets_\($0 == "status" ? "status" : "scheduled") ON tickets(\($0))" }
        return "the tickets table has no index on \(missing.joined(separator: " or ")): "
            + (missing.count == 2 ? "each rule reads the whole table at every tick after an app write" : "rules that need it read more of the table")
            + "; overdued never writes to this database: the app's schema has it (\(statements.joined(separator: "; ")))"
    }
}
