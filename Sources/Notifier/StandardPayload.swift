public import Foundation
public import Store

/// overdued's own payload: `{"type":"ticket.overdue","timestamp":...,"data":{...}}`, the
/// Standard Webhooks envelope shape, with structured fields (ids next to names, instants in
/// ISO 8601) for receivers written today.
public enum StandardPayload {
    public static let eventType = "ticket.overdue"

    public static func jsonData(snapshot: TicketSnapshot, notificationID: String, sentAt: Date) -> Data {
        json(snapshot: snapshot, notificationID: notificationID, sentAt: sentAt).data
    }

    static func json(snapshot: TicketSnapshot, notificationID: String, sentAt: Date) -> PayloadJSON {
        let overdue = OverdueDuration(dueAt: snapshot.dueAt, sentAt: sentAt)
        let machine: PayloadJSON = snapshot.machine.map { machine in
            [
                "id": .optional(machine.id),
                "type": .optional(machine.type),
                "model": .optional(machine.model),
                "location": .optional(machine.location),
                "label": .string(LegacyPayload.machineText(machine)),
                "is_down": .bool(snapshot.isMachineDown),
            ]
        } ?? .null
        let assignee: PayloadJSON = snapshot.assignedTo.map { id in
            [
                "id": .integer(id),
                "name": .optional(snapshot.assigneeName),
                "whole_team": .bool(id == 0),
                "label": .string(LegacyPayload.assigneeText(assignedTo: id, assigneeName: snapshot.assigneeName)),
            ]
        } ?? .null
        let reporter: PayloadJSON = (snapshot.reportedBy != nil || snapshot.reporterName != nil)
            ? ["id": .optional(snapshot.reportedBy), "name": .optional(snapshot.reporterName)]
            : .null
        let data: PayloadJSON = [
            "notification_id": .string(notificationID),
            "rule": .string(snapshot.rule),
            "ticket": .integer(snapshot.ticket),
            "ticket_id": .string(snapshot.ticketID),
            "title": .string(snapshot.title),
            "description": .string(snapshot.description),
            "status": .string(snapshot.status),
            "priority": .string(snapshot.priority),
            "machine": machine,
            "is_machine_down": .bool(snapshot.isMachineDown),
            "assignee": assignee,
            "reporter": reporter,
            "created_at": .optional(snapshot.createdAt),
            "scheduled_date": .string(snapshot.scheduledDate),
            "due_at": .string(PayloadTimestamp.iso8601(snapshot.dueAt)),
            "detected_at": .string(PayloadTimestamp.iso8601(snapshot.detectedAt)),
            "overdue_seconds": .integer(overdue.totalSeconds),
            "overdue_text": .string(overdue.frenchText),
        ]
        return [
            "type": .string(eventType),
            "timestamp": .string(PayloadTimestamp.iso8601(sentAt)),
            "data": data,
        ]
    }
}
