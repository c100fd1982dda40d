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
        /// Something after the host's colon that no port can be (too large for one): the
        /// parser drops it, and the request would go to the scheme's default port.
        case badPort
        /// A line break or another control character, which a URL cannot hold (the client
        /// would percent-encode it into another URL than meant).
        case characters

        public var description: String {
            switch self {
            case .notHTTP: "is not an http:// or https:// URL with a host"
            case .port(let port): "has port \(port), which is not between 1 and 65535"
            case .badPort: "has a port that is not a number between 1 and 65535"
            case .characters: "holds a line break or another control character, which a URL cannot hold; remove it, or percent-encode it if it is meant (%0A)"
            }
        }
    }

    public init(_ text: String) throws(Problem) {
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            let lowered = text.lowercased()
            throw lowered.hasPrefix("http://") || lowered.hasPrefix("https://") ? .characters : .notHTTP
        }
        guard var components = URLComponents(string: Self.encodingInvalidCharacters(text)),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty
        else { throw .notHTTP }
        if let port = components.port, !(1...65_535).contains(port) { throw .port(port) }
        if components.port == nil, !Self.portText(text).isEmpty { throw .badPort }
        hadUserinfo = components.percentEncodedUser != nil || components.percentEncodedPassword != nil
        basicAuthorization = basicCredentials(components).map { "Basic " + $0 }
        components.user = nil
        components.password = nil
        guard let url = components.url else { throw .notHTTP }
        self.url = url
        let port = components.port.map { ":\($0)" } ?? ""
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.redacted = "\(scheme)://\(shownHost)\(port)"
    }

    /// The text with what a URL cannot hold in its user and password or after its host (a
    /// space, a non-ASCII letter, `[`, `|`, a `%` that starts no escape, ...) percent-encoded,
    /// and its escapes kept, as curl and browsers send it. Left to `URLComponents`, one such
    /// character had the whole part encoded again: `?sig=Ab%2Bc&name=équipe` went out as
    /// `?sig=Ab%252Bc&name=%C3%A9quipe`, a signed token the receiver refuses.
    static func encodingInvalidCharacters(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let afterScheme = text[schemeEnd.upperBound...]
        let rest = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? text.endIndex
        let authority = text[schemeEnd.upperBound..<rest]
        let userinfoEnd = authority.lastIndex(of: "@")
        let userinfo = userinfoEnd.map { text[schemeEnd.upperBound..<$0] } ?? ""
        let tail = text[rest...]
        guard needsEncoding(userinfo.utf8) || needsEncoding(tail.utf8) else { return text }
        var encoded = Array(text[..<schemeEnd.upperBound].utf8)
        encoded += escapeInvalid(Array(userinfo.utf8))
        encoded += Array(text[(userinfoEnd ?? schemeEnd.upperBound)..<rest].utf8)
        encoded += escapeInvalid(Array(tail.utf8))
        return String(decoding: encoded, as: UTF8.self)
    }

    private static func needsEncoding(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.contains { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "%") || unsafeAfterHost.contains($0) }
    }

    /// The bytes with each one a URL cannot hold as `%XX`, and each `%XX` escape kept.
    private static func escapeInvalid(_ bytes: [UInt8]) -> [UInt8] {
        func isHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte) }
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(bytes.count)
        for (index, byte) in bytes.enumerated() {
            let escape = byte == UInt8(ascii: "%") && index + 2 < bytes.count && isHex(bytes[index + 1]) && isHex(bytes[index + 2])
            if !escape, byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "%") || unsafeAfterHost.contains(byte) {
                encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                encoded.append(byte)
            }
        }
        return encoded
    }

    /// ASCII that `URLComponents` takes for invalid in a path, query or fragment.
    static let unsafeAfterHost = Set("\"<>\\^`{|}[]".utf8)

    /// Plain http:// to a host that is not this machine (a loopback address or `localhost`):
    /// what is sent can be read and changed on the way.
    public var isPlainHTTPOffThisMachine: Bool {
        guard url.scheme?.lowercased() == "http", let host = url.host else { return false }
        return !Self.isLoopback(host: host)
    }

    /// `localhost` (and its subdomains), 127.0.0.0/8 in any form the system's resolver takes
    /// (`127.1`), `::1` in any spelling, and IPv4-mapped 127.0.0.0/8.
    public static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_aton(name, &v4) != 0 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, name, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    /// What the text holds after the host's colon, before the path (empty without a port).
    static func portText(_ text: String) -> Substring {
        guard let schemeEnd = text.range(of: "://") else { return "" }
        let authority = text[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostAndPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        let afterHost = hostAndPort.hasPrefix("[") ? hostAndPort.drop { $0 != "]" }.dropFirst() : hostAndPort.drop { $0 != ":" }
        return afterHost.dropFirst()
    }
}

/// The base64 of `user:password` for Basic authentication, as curl sends a URL's userinfo;
/// nil for none (`http://@host/` and `http://:@host/` name no one).
private func basicCredentials(_ components: URLComponents) -> String? {
    guard !(components.percentEncodedUser ?? "").isEmpty || !(components.percentEncodedPassword ?? "").isEmpty else { return nil }
    let credentials = (components.user ?? "") + ":" + (components.password ?? "")
    return Data(credentials.utf8).base64EncodedString()
}

/// Standard Webhooks secrets are `whsec_` followed by the base64 of the key.
public enum SigningSecretFormat {
    /// Standard Webhooks: keys of 24 to 64 random bytes. Shorter ones are accepted (a receiver
    /// may have issued one), with a warning.
    public static let recommendedKeyBytes = 24

    /// The keys of a secret file's text: one `whsec_` secret, or several separated by spaces or
    /// line breaks (a rotation: each signs, and a receiver accepts any of the signatures); nil
    /// when any of them is not a secret.
    public static func keys(_ text: String) -> [[UInt8]]? {
        let secrets = text.split(whereSeparator: \.isWhitespace)
        guard !secrets.isEmpty else { return nil }
        var keys: [[UInt8]] = []
        for secret in secrets {
            guard let key = keyBytes(String(secret)) else { return nil }
            keys.append(key)
        }
        return keys
    }

    public static func keyBytes(_ secret: String) -> [UInt8]? {
        let prefix = "whsec_"
        var body = secret.hasPrefix(prefix) ? String(secret.dropFirst(prefix.count)) : ""
        // Without its `=` padding, or part of it, as some receivers print it (Node's decoder
        // takes it so).
        while body.hasSuffix("=") { body.removeLast() }
        if body.utf8.count % 4 >= 2 { body += String(repeating: "=", count: 4 - body.utf8.count % 4) }
        guard !body.isEmpty, let data = Data(base64Encoded: body), !data.isEmpty else { return nil }
        return [UInt8](data)
    }
}

/// An HTTP proxy's URL (`http://[user:password@]host:port`), through which requests to a
/// destination go in a CONNECT tunnel (TLS to the destination stays end to end). Its user and
/// password are sent as `Proxy-Authorization: Basic`; `redacted` shows scheme, host and port.
public struct ProxyURL: Sendable, Equatable {
    public let host: String
    public let port: Int
    /// base64 of `user:password`, when the URL held them.
    public let basicCredentials: Secret?
    public let redacted: String

    /// Why a text is not a usable proxy URL. Never quotes the text: it may hold a password.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case notHTTP
        case unbracketedIPv6
        case noPort
        case badPort
        case port(Int)
        /// A line break or another control character inside it (in the password, say).
        case characters
        case path

        public var description: String {
            switch self {
            case .notHTTP: "is not an http:// proxy URL with a host (the proxy is spoken to in plain HTTP; https:// and SOCKS proxies are not supported)"
            case .unbracketedIPv6: "holds an IPv6 address without brackets: write it as http://[::1]:3128"
            case .noPort: "names no port: give the proxy's port, e.g. http://proxy.example.com:3128"
            case .badPort: "has a port that is not a number between 1 and 65535"
            case .port(let port): "has port \(port), which is not between 1 and 65535"
            case .path: "has a path, query or fragment, which a proxy URL does not take: http://host:port"
            case .characters: "holds a line break or another control character, which a URL cannot hold"
            }
        }
    }

    public init(_ written: String) throws(Problem) {
        // Spaces around it are a slip of the pen (a proxy_url_file is trimmed the same way).
        let text = written.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) { throw .characters }
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "http",
              let host = components.host, !host.isEmpty
        else {
            let rest = text.lowercased().hasPrefix("http://") ? text.dropFirst("http://".count) : ""
            throw rest.filter({ $0 == ":" }).count >= 2 && !rest.hasPrefix("[") && !rest.contains("@") ? .unbracketedIPv6 : .notHTTP
        }
        guard let port = components.port else {
            // Something after the host's colon that is not a port (too large for one) is not
            // the same slip as no port at all.
            let authority = text.dropFirst("http://".count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            let hostAndPort = authority.split(separator: "@").last ?? ""
            let afterHost = hostAndPort.hasPrefix("[") ? hostAndPort.drop { $0 != "]" }.dropFirst() : hostAndPort.drop { $0 != ":" }
            throw afterHost.count > 1 ? .badPort : .noPort
        }
        guard (1...65_535).contains(port) else { throw .port(port) }
        guard ["", "/"].contains(components.percentEncodedPath), components.query == nil, components.fragment == nil else { throw .path }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        basicCredentials = OverduedConfig.basicCredentials(components).map(Secret.init)
        let shownHost = self.host.contains(":") ? "[\(self.host)]" : self.host
        redacted = "http://\(shownHost):\(port)"
    }
}
