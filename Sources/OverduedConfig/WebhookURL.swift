public import Foundation

/// A destination URL, checked to be http(s) with a host. `redacted` keeps scheme, host and
/// port only: paths and queries of webhook URLs often carry tokens.
public struct WebhookURL: Sendable, Equatable {
    public let url: URL
    public let redacted: String

    public init?(_ text: String) {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty,
              let url = components.url
        else { return nil }
        self.url = url
        let port = components.port.map { ":\($0)" } ?? ""
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.redacted = "\(scheme)://\(shownHost)\(port)"
    }
}

/// Standard Webhooks secrets are `whsec_` followed by the base64 of the key.
public enum SigningSecretFormat {
    public static func keyBytes(_ secret: String) -> [UInt8]? {
        let prefix = "whsec_"
        let body = secret.hasPrefix(prefix) ? String(secret.dropFirst(prefix.count)) : ""
        guard !body.isEmpty, let data = Data(base64Encoded: body), !data.isEmpty else { return nil }
        return [UInt8](data)
    }
}
