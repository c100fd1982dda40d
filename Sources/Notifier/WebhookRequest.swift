public import Foundation
public import OverduedConfig

/// The bytes and headers of one webhook POST, as the interface fixes them: JSON,
/// `User-Agent: overdued/<version>`, the Standard Webhooks `webhook-id` (the notification id,
/// the same on every retry, so receivers can drop duplicates), `webhook-timestamp`,
/// `webhook-signature` when the destination has a secret, then the destination's headers.
public struct WebhookRequest: Sendable {
    public var body: Data
    public var headers: [(name: String, value: String)]

    public init(body: Data, notificationID: String, timestamp: Date, destination: DestinationSpec, userAgentVersion: String) {
        self.body = body
        let seconds = PayloadTimestamp.unixSeconds(timestamp)
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", "overdued/\(userAgentVersion)"),
            ("webhook-id", notificationID),
            ("webhook-timestamp", String(seconds)),
        ]
        // The loader has checked the secret decodes; a nil here would only drop the header,
        // and the receiver would then reject the request visibly.
        if let secret = destination.signingSecret, let signature = WebhookSignature(secret: secret.value) {
            headers.append(("webhook-signature", signature.sign(id: notificationID, timestamp: seconds, body: body)))
        }
        for header in destination.headerList {
            headers.append((header.name, header.value.value))
        }
        self.headers = headers
    }
}
