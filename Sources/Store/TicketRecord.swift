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

    public init(id: Int64, ticketID: String? = nil, status: String? = nil, priority: String? = nil,
                assignedTo: Int64? = nil, scheduledDate: String? = nil) {
        self.id = id
        self.ticketID = ticketID
        self.status = status
        self.priority = priority
        self.assignedTo = assignedTo
        self.scheduledDate = scheduledDate
    }
}

/// A parameterised condition on the `tickets` table (alias `t`), produced by the rules
/// engine. Values are bound, never spliced into the SQL text.
public struct TicketFilter: Sendable, Equatable {
    public var sql: String
    public var arguments: [SQLArgument]

    public init(sql: String, arguments: [SQLArgument]) {
        self.sql = sql
        self.arguments = arguments
    }
}

public enum SQLArgument: Sendable, Equatable {
    case text(String)
    case integer(Int64)
}

/// Which optional columns the app's schema has: `deleted_at` and `is_machine_down` were
/// added later, and older exports lack them.
public struct TicketSchema: Sendable, Equatable {
    public var hasDeletedAt: Bool
    public var hasIsMachineDown: Bool
    public var hasAssigneeName: Bool

    public init(hasDeletedAt: Bool = true, hasIsMachineDown: Bool = true, hasAssigneeName: Bool = true) {
        self.hasDeletedAt = hasDeletedAt
        self.hasIsMachineDown = hasIsMachineDown
        self.hasAssigneeName = hasAssigneeName
    }
}
