public import Foundation

/// A destination URL, checked to be http(s) with a host and a port a connection can use.
/// `redacted` keeps scheme, host and port only: paths and queries of webhook URLs often carry
/// tokens. A user and password in the URL (`https://user:pass@host/`) become a Basic
/// `Authorization` header, as curl sends them, and are taken out of the URL requested.
public struct WebhookURL: Sendable, Equatable {
    public let url: URL
    public let redacted: String
    /// `Basic <base64(user:password)>` when the URL held credentials.
    public let basicAuthorization: String?
    /// Whether the text had a userinfo part (even an empty one), which `url` leaves out.
    public let hadUserinfo: Bool

    /// Why a text is not a usable webhook URL. Never quotes the text: it may be secret.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case notHTTP
        case port(Int)

        public var description: String {
            switch self {
            case .notHTTP: "is not an http:// or https:// URL with a host"
            case .port(let port): "has port \(port), which is not between 1 and 65535"
            }
        }
    }

    public init(_ text: String) throws(Problem) {
        guard var components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty
        else { throw .notHTTP }
        if let port = components.port, !(1...65_535).contains(port) { throw .port(port) }
        hadUserinfo = components.percentEncodedUser != nil || components.percentEncodedPassword != nil
        // `http://@host/` and `http://:@host/` name no one: no header.
        if !(components.percentEncodedUser ?? "").isEmpty || !(components.percentEncodedPassword ?? "").isEmpty {
            let credentials = (components.user ?? "") + ":" + (components.password ?? "")
            basicAuthorization = "Basic " + Data(credentials.utf8).base64EncodedString()
            components.user = nil
            components.password = nil
        } else {
            basicAuthorization = nil
            components.user = nil
            components.password = nil
        }
        guard let url = components.url else { throw .notHTTP }
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
