public import Foundation
public import OverduedConfig
public import Store

/// A payload that cannot be built. The notification is marked dead with this message:
/// retrying would render the same bytes again.
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The outbox snapshot is not the JSON overdued writes (corrupt row, downgrade).
        case badSnapshot
        case templateSyntax
        case templateOutputNotJSON
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The one place a destination's `format` turns a queued notification into request bytes.
public enum PayloadRenderer {
    /// - Parameters:
    ///   - sentAt: the attempt's time; payloads describe the ticket as overdue *now*, so a retry
    ///     a day later says "1 jour(s)" more than the first attempt did.
    public static func render(format: PayloadFormat, snapshot: TicketSnapshot, notificationID: String,
                              sentAt: Date) throws(PayloadError) -> Data {
        switch format {
        case .standard:
            return StandardPayload.jsonData(snapshot: snapshot, notificationID: notificationID, sentAt: sentAt)
        case .legacy:
            return LegacyPayload(snapshot: snapshot, sentAt: sentAt).jsonData()
        case .template(let path, let source):
            return try TemplatePayload.render(source: source, path: path, snapshot: snapshot,
                                              notificationID: notificationID, sentAt: sentAt)
        }
    }

    /// Renders from the snapshot JSON the outbox keeps.
    public static func render(format: PayloadFormat, snapshotJSON: Data, notificationID: String,
                              sentAt: Date) throws(PayloadError) -> Data {
        let snapshot: TicketSnapshot
        do {
            snapshot = try TicketSnapshot.decode(snapshotJSON)
        } catch {
            throw PayloadError(.badSnapshot, "the queued ticket snapshot cannot be read: \(error)")
        }
        return try render(format: format, snapshot: snapshot, notificationID: notificationID, sentAt: sentAt)
    }

    public static let testEventType = "overdued.test"

    /// The body `send-test` posts to a destination of this format. A template's receiver (a
    /// chat, ntfy) takes only what its template makes, so the template is rendered, with a
    /// ticket that says in every field it is a test (`testTicket`); the standard and legacy
    /// formats get `testPayload(destination:…)`, which no receiver takes for an overdue
    /// ticket (a legacy automation would email the assignee of a ticket that looked real).
    public static func testPayload(format: PayloadFormat, destination: String, notificationID: String,
                                   sentAt: Date) throws(PayloadError) -> Data {
        guard case .template(let path, let source) = format else {
            return testPayload(destination: destination, notificationID: notificationID, sentAt: sentAt)
        }
        return try TemplatePayload.render(source: source, path: path, snapshot: testTicket(at: sentAt),
                                          notificationID: notificationID, sentAt: sentAt)
    }

    /// A ticket due an hour before `now` whose every text says it is a test from overdued.
    public static func testTicket(at now: Date) -> TicketSnapshot {
        let test = "TEST"
        let message = "Test from overdued: not an overdue ticket, it can be ignored / test d'overdued : ce n'est pas un ticket en retard"
        let due = now.addingTimeInterval(-3_600)
        return TicketSnapshot(
            rule: "send-test", ticket: 0, ticketID: test, title: message, description: message, status: "test", priority: "low",
            machine: TicketSnapshot.Machine(id: 0, type: test, model: test, location: test), assignedTo: nil,
            assigneeName: "overdued send-test", reportedBy: nil, reporterName: "overdued send-test",
            createdAt: PayloadTimestamp.iso8601(due), scheduledDate: PayloadTimestamp.iso8601(due), dueAt: due,
            isMachineDown: false, detectedAt: now)
    }

    /// The body `send-test` posts to a standard or legacy destination: marked as a test in its
    /// type and text, so that no receiver mistakes it for an overdue ticket.
    public static func testPayload(destination: String, notificationID: String, sentAt: Date) -> Data {
        let payload: PayloadJSON = [
            "type": .string(testEventType),
            "timestamp": .string(PayloadTimestamp.iso8601(sentAt)),
            "data": [
                "notification_id": .string(notificationID),
                "destination": .string(destination),
                "test": .bool(true),
                "message": .string("Test webhook from overdued: this is not an overdue ticket, it can be ignored."),
            ],
        ]
        return payload.data
    }
}
