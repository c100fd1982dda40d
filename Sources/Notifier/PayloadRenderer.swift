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

    /// The body `send-test` posts: marked as a test in its type and text, so that no receiver
    /// mistakes it for an overdue ticket, whatever the destination's format.
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
