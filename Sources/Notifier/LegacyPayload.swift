public import Foundation
public import Store

/// The exact JSON the maintenance app's old automation sent for an overdue ticket, so that
/// the automations built on it keep working unchanged when overdued replaces it.
///
/// Field names, order, French texts and value types follow the old code: do not "improve"
/// them (an automation may match on `assigned_to == "Équipe complète"`).
public struct LegacyPayload: Sendable, Equatable {
    public var ticketID: String
    public var title: String
    public var description: String
    public var priority: String
    public var status: String
    /// `"<machine_type> <model>"`, or `"N/A"` when the machine is unknown.
    public var machine: String
    /// As stored by the app (`YYYY-MM-DD HH:MM:SS`), not reformatted.
    public var scheduledDate: String
    /// The assignee's name, `"Équipe complète"`, `"Technicien #<id>"` or `"Non assigné"`.
    public var assignedTo: String
    /// The reporter's name or `"N/A"`.
    public var reporter: String
    /// As stored by the app; nil only if the row had none.
    public var createdAt: String?
    public var overdueDays: Int64
    public var overdueHours: Int64
    public var overdueMinutes: Int64
    public var overdueText: String
    /// ISO 8601 UTC with milliseconds.
    public var notificationSentAt: String

    /// What the old automation wrote when `assigned_to` was 0, whatever the system user's name.
    public static let wholeTeam = "Équipe complète"
    /// Placeholder for unknown machine or reporter.
    public static let unknown = "N/A"
    /// For an unassigned ticket. The old rule never notified those (it required
    /// `assigned_to IS NOT NULL`), so there is no historical text; a rule of overdued may.
    public static let unassigned = "Non assigné"

    public init(snapshot: TicketSnapshot, sentAt: Date) {
        ticketID = snapshot.ticketID
        title = snapshot.title
        description = snapshot.description
        priority = snapshot.priority
        status = snapshot.status
        machine = Self.machineText(snapshot.machine)
        scheduledDate = snapshot.scheduledDate
        assignedTo = Self.assigneeText(assignedTo: snapshot.assignedTo, assigneeName: snapshot.assigneeName)
        reporter = Self.nonEmpty(snapshot.reporterName) ?? Self.unknown
        createdAt = snapshot.createdAt
        let overdue = OverdueDuration(dueAt: snapshot.dueAt, sentAt: sentAt)
        overdueDays = overdue.days
        overdueHours = overdue.hours
        overdueMinutes = overdue.minutes
        overdueText = overdue.frenchText
        notificationSentAt = PayloadTimestamp.iso8601(sentAt)
    }

    /// `"<machine_type> <model>"`; the type alone when the (later nullable) model is missing;
    /// `"N/A"` when the machine row or its type is missing.
    public static func machineText(_ machine: TicketSnapshot.Machine?) -> String {
        guard let type = nonEmpty(machine?.type) else { return unknown }
        guard let model = nonEmpty(machine?.model) else { return type }
        return "\(type) \(model)"
    }

    public static func assigneeText(assignedTo: Int64?, assigneeName: String?) -> String {
        guard let assignedTo else { return unassigned }
        if assignedTo == 0 { return wholeTeam }
        return nonEmpty(assigneeName) ?? "Technicien #\(assignedTo)"
    }

    /// The JSON body, fields in the old automation's order.
    public func jsonData() -> Data {
        json.data
    }

    var json: PayloadJSON {
        [
            "ticket_id": .string(ticketID),
            "title": .string(title),
            "description": .string(description),
            "priority": .string(priority),
            "status": .string(status),
            "machine": .string(machine),
            "scheduled_date": .string(scheduledDate),
            "assigned_to": .string(assignedTo),
            "reporter": .string(reporter),
            "created_at": .optional(createdAt),
            "overdue_days": .integer(overdueDays),
            "overdue_hours": .integer(overdueHours),
            "overdue_minutes": .integer(overdueMinutes),
            "overdue_text": .string(overdueText),
            "notification_sent_at": .string(notificationSentAt),
        ]
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }
}
