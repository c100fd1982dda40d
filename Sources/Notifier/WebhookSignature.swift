internal import Crypto
public import Foundation
internal import OverduedConfig

/// Standard Webhooks signing (https://www.standardwebhooks.com): the receiver can check that
/// a request comes from us and was not replayed, with any of the spec's libraries.
///
/// `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>` where the
/// key is the base64 part of the `whsec_` secret. With several secrets (a rotation), one such
/// signature per secret, separated by spaces, as the spec has it: a receiver that knows any of
/// them verifies the request.
public struct WebhookSignature: Sendable {
    private let keys: [SymmetricKey]

    /// nil when the secret is not `whsec_` followed by base64, or several such separated by
    /// spaces or lines (the config loader refuses anything else).
    public init?(secret: String) {
        guard let keys = SigningSecretFormat.keys(secret) else { return nil }
        self.keys = keys.map { SymmetricKey(data: $0) }
    }

    public init(keyBytes: [UInt8]) {
        keys = [SymmetricKey(data: keyBytes)]
    }

    /// The `webhook-signature` header value.
    public func sign(id: String, timestamp: Int64, body: Data) -> String {
        let content = Self.signedContent(id: id, timestamp: timestamp, body: body)
        return keys.map { key in "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: key)).base64EncodedString() }
            .joined(separator: " ")
    }

    /// Why a received webhook did or did not verify.
    public enum Verification: Sendable, Equatable, CustomStringConvertible {
        case valid
        case invalid(reason: String)

        public var description: String {
            switch self {
            case .valid: "signature valid"
            case .invalid(let reason): "signature INVALID: \(reason)"
            }
        }
    }

    /// Checks a request as a Standard Webhooks receiver does: one of the space-separated
    /// `v1,` signatures must match, and the timestamp must be within `tolerance` of `now`
    /// (5 minutes in the spec) so that a captured request cannot be replayed later.
    public func verify(id: String?, timestamp: String?, signatureHeader: String?, body: Data,
                       now: Date, tolerance: TimeInterval = 300) -> Verification {
        guard let id, !id.isEmpty else { return .invalid(reason: "no webhook-id header") }
        guard let timestamp else { return .invalid(reason: "no webhook-timestamp header") }
        // The signed content holds the header's text as sent, so it must be digits alone:
        // "+1795…" or " 1795…" would be another text than the one its sender signed.
        guard !timestamp.isEmpty, timestamp.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seconds = Int64(timestamp) else {
            return .invalid(reason: "webhook-timestamp is not a number of seconds")
        }
        guard let signatureHeader, !signatureHeader.isEmpty else { return .invalid(reason: "no webhook-signature header") }
        if abs(now.timeIntervalSince1970 - Double(seconds)) > tolerance {
            return .invalid(reason: "webhook-timestamp is more than \(Int(tolerance)) s away from now")
        }
        let content = Self.signedContent(id: id, timestamp: timestamp, body: body)
        for candidate in signatureHeader.split(separator: " ") {
            let parts = candidate.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let mac = Data(base64Encoded: String(parts[1])) else { continue }
            if keys.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: content, using: $0) }) {
                return .valid
            }
        }
        return .invalid(reason: "no v1 signature matches the secret")
    }

    static func signedContent(id: String, timestamp: some CustomStringConvertible, body: Data) -> Data {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        return content
    }
}
