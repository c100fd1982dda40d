public import Foundation

/// The ticket as the rules engine saw it when it queued a notification: what payloads are
/// rendered from. Kept in the outbox as JSON so that a retry days later, or after a restart,
/// sends what was true when the ticket was found overdue.
public struct TicketSnapshot: Sendable, Equatable, Codable {
    public var rule: String
    /// tickets.id
    public var ticket: Int64
    /// The human id (`IGP-2026-0042`).
    public var ticketID: String
    public var title: String
    public var description: String
    public var status: String
    public var priority: String
    public var machine: Machine?
    /// NULL: unassigned; 0: the whole team.
    public var assignedTo: Int64?
    /// The assignee's users.full_name; nil when the user row is missing.
    public var assigneeName: String?
    public var reportedBy: Int64?
    public var reporterName: String?
    /// As stored by the app.
    public var createdAt: String?
    /// As stored by the app.
    public var scheduledDate: String
    /// The instant `scheduledDate` denotes, read in `store.timezone`.
    public var dueAt: Date
    public var isMachineDown: Bool
    /// When the scan found it overdue.
    public var detectedAt: Date

    public struct Machine: Sendable, Equatable, Codable {
        public var id: Int64?
        public var type: String?
        public var model: String?
        public var location: String?

        public init(id: Int64?, type: String?, model: String?, location: String?) {
            self.id = id
            self.type = type
            self.model = model
            self.location = location
        }
    }

    public init(rule: String, ticket: Int64, ticketID: String, title: String, description: String, status: String,
                priority: String, machine: Machine?, assignedTo: Int64?, assigneeName: String?, reportedBy: Int64?,
                reporterName: String?, createdAt: String?, scheduledDate: String, dueAt: Date, isMachineDown: Bool,
                detectedAt: Date) {
        self.rule = rule
        self.ticket = ticket
        self.ticketID = ticketID
        self.title = title
        self.description = description
        self.status = status
        self.priority = priority
        self.machine = machine
        self.assignedTo = assignedTo
        self.assigneeName = assigneeName
        self.reportedBy = reportedBy
        self.reporterName = reporterName
        self.createdAt = createdAt
        self.scheduledDate = scheduledDate
        self.dueAt = dueAt
        self.isMachineDown = isMachineDown
        self.detectedAt = detectedAt
    }

    enum CodingKeys: String, CodingKey {
        case rule, ticket, title, description, status, priority, machine
        case ticketID = "ticket_id"
        case assignedTo = "assigned_to"
        case assigneeName = "assignee_name"
        case reportedBy = "reported_by"
        case reporterName = "reporter_name"
        case createdAt = "created_at"
        case scheduledDate = "scheduled_date"
        case dueAt = "due_at"
        case isMachineDown = "is_machine_down"
        case detectedAt = "detected_at"
    }

    /// The JSON stored in the outbox (dates as milliseconds since 1970, exact and zone-free);
    /// `decode` reads it back.
    public func encoded() -> Data {
        // Written straight into one buffer (no intermediate `PayloadJSON` tree): a scan writes
        // one snapshot per overdue ticket.
        var json = JSONObjectWriter(capacity: 256 + title.utf8.count + description.utf8.count)
        json.member("rule", rule)
        json.member("ticket", ticket)
        json.member("ticket_id", ticketID)
        json.member("title", title)
        json.member("description", description)
        json.member("status", status)
        json.member("priority", priority)
        if let machine {
            json.beginObject("machine")
            json.member("id", machine.id)
            json.member("type", machine.type)
            json.member("model", machine.model)
            json.member("location", machine.location)
            json.endObject()
        } else {
            json.null("machine")
        }
        json.member("assigned_to", assignedTo)
        json.member("assignee_name", assigneeName)
        json.member("reported_by", reportedBy)
        json.member("reporter_name", reporterName)
        json.member("created_at", createdAt)
        json.member("scheduled_date", scheduledDate)
        json.member("due_at", Self.milliseconds(dueAt))
        json.member("is_machine_down", isMachineDown)
        json.member("detected_at", Self.milliseconds(detectedAt))
        return json.finish()
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    public static func decode(_ data: Data) throws -> TicketSnapshot {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try decoder.decode(TicketSnapshot.self, from: data)
    }
}
