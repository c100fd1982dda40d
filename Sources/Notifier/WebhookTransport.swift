internal import AsyncHTTPClient
import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import NIOSSL
internal import OverduedConfig
internal import Store

/// What came back from one POST: a response (status, `Retry-After`, the first KB of the
/// body) or why there was none, and how long it took.
struct TransportResult: Sendable {
    var result: AttemptResult
    var responseBody: String?
    var duration: Duration

    var httpStatus: Int? {
        if case .response(let status, _) = result { return status }
        return nil
    }

    var error: String? {
        if case .failure(let failure) = result { return failure.message }
        return nil
    }
}

/// The HTTP edge: one shared `HTTPClient` (connections are reused across notifications and
/// destinations on the same host), redirects not followed, connect attempts not retried
/// inside the client (a refused connection is a retry decision for `RetryPolicy`, not a
/// silent wait until the deadline).
final class WebhookTransport: Sendable {
    /// Direct connections with the longest connect limit.
    let client: HTTPClient
    /// The other clients, one per proxy and connect limit in use (both are settings of the
    /// client in AsyncHTTPClient), made at their first request; each pools its own connections.
    private let pool = LockedState(ClientPool())

    /// The clients other than `client`, with the requests each carries, and those being shut
    /// down. A reload can leave a client no destination uses any more (a proxy or a timeout
    /// changed): it is shut down once its last request has ended, so that a daemon reloaded
    /// for years does not keep one client per setting it ever had.
    private struct ClientPool {
        var clients: [ClientSettings: (client: HTTPClient, inFlight: Int)] = [:]
        /// The settings of the destinations configured now; nil until told (nothing is
        /// retired then).
        var wanted: Set<ClientSettings>?
        /// Shutdowns under way, by number, awaited by `shutdown()`.
        var closing: [Int: Task<Void, Never>] = [:]
        var closed = 0

        /// Removes the client if no destination uses its settings and no request is on it;
        /// returns it to be shut down.
        mutating func retireIfUnused(_ settings: ClientSettings) -> HTTPClient? {
            guard let wanted, !wanted.contains(settings), let entry = clients[settings], entry.inFlight == 0 else { return nil }
            clients[settings] = nil
            return entry.client
        }
    }

    struct ClientSettings: Hashable {
        var proxy: HTTPClient.Configuration.Proxy?
        var connectMilliseconds: Int64
    }

    /// The longest a connection may take to open: TCP, the proxy's tunnel, the TLS handshake.
    /// A receiver or proxy that accepts the connection and then stalls holds it until then,
    /// past the request's deadline and past a stop's grace (the client's shutdown waits for
    /// it): so never longer than the destination's `timeout`, and at most 5 s.
    static func connectLimit(_ destination: DestinationSpec) -> Int64 {
        min(5_000, max(100, Int64(destination.timeout.seconds * 1000)))
    }

    /// The response body kept for the attempt record; the rest is read and dropped.
    static let bodyLimit = 1024
    /// Read beyond `bodyLimit` before secrets are replaced, so that one the limit cuts in two
    /// is still whole when it is looked for (and its first part is not kept).
    static let collectLimit = bodyLimit + 8192

    /// How long a connection is kept for the next request. Receivers close idle connections
    /// themselves, after 2 s (gunicorn) or 5 s (Node.js, uvicorn, Apache); a request sent on a
    /// connection at the instant its receiver closes it fails without reaching anyone. Closing
    /// ours first, under a second, keeps the connection of a busy destination (200 ms apart by
    /// default) and gives a quiet one a fresh connection, whose cost is one handshake.
    static let idleTimeout: TimeAmount = .milliseconds(900)

    /// Set when the client is being shut down: what fails then was interrupted by us.
    private let closing = LockedState(false)
    /// Each destination's TLS configuration, built from its `tls` files once (and again when a
    /// reload changes them), not for every request.
    private let tlsConfigurations = LockedState<[String: (spec: TLSSpec, configuration: TLSConfiguration)]>([:])

    init() {
        client = Self.makeClient(ClientSettings(proxy: nil, connectMilliseconds: 5_000))
    }

    private static func makeClient(_ settings: ClientSettings) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(settings.connectMilliseconds), read: nil),
            // Soft limit per host; destinations allow up to 256 in flight. See `idleTimeout`.
            connectionPool: .init(idleTimeout: WebhookTransport.idleTimeout, concurrentHTTP1ConnectionsPerHostSoftLimit: 256),
            proxy: settings.proxy
        )
        configuration.connectionPool.retryConnectionEstablishment = false
        // The singleton group has one thread per core (two here): no extra threads or
        // memory for overdued, and nothing to shut down.
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    /// The client settings a destination's requests need; nil for the direct client's.
    private static func settings(of destination: DestinationSpec) -> ClientSettings? {
        let settings = ClientSettings(
            proxy: destination.proxy.map { proxy in
                .server(host: proxy.host, port: proxy.port, authorization: proxy.basicCredentials.map { .basic(credentials: $0.value) })
            },
            connectMilliseconds: Self.connectLimit(destination))
        return settings.proxy == nil && settings.connectMilliseconds == 5_000 ? nil : settings
    }

    /// The client for one request to the destination: direct or through its proxy, with its
    /// connect limit. Every call is paired with `release(_:)` when the request has ended.
    private func acquireClient(for destination: DestinationSpec) -> (client: HTTPClient, settings: ClientSettings?) {
        guard let settings = Self.settings(of: destination) else { return (client, nil) }
        return pool.withLock { pool in
            if let existing = pool.clients[settings] {
                pool.clients[settings]?.inFlight += 1
                return (existing.client, settings)
            }
            // None is made once shutting down began (it would never be shut down): the
            // direct client, shut down, then fails the request as cancelled.
            if closing.withLock({ $0 }) { return (client, nil) }
            let made = Self.makeClient(settings)
            pool.clients[settings] = (made, 1)
            return (made, settings)
        }
    }

    private func release(_ settings: ClientSettings?) {
        guard let settings else { return }
        let unused = pool.withLock { pool -> HTTPClient? in
            pool.clients[settings]?.inFlight -= 1
            return pool.retireIfUnused(settings)
        }
        if let unused { close(unused) }
    }

    /// The destinations configured now (at start and after each reload): a client none of
    /// them uses is shut down, at once or when its last request ends.
    func use(destinations: [DestinationSpec]) {
        let unused = pool.withLock { pool -> [HTTPClient] in
            pool.wanted = Set(destinations.compactMap(Self.settings(of:)))
            return Array(pool.clients.keys).compactMap { pool.retireIfUnused($0) }
        }
        unused.forEach(close)
        let names = Set(destinations.map(\.name))
        tlsConfigurations.withLock { cached in cached = cached.filter { names.contains($0.key) } }
    }

    /// How many clients other than the direct one are open (tests).
    var openClientCount: Int { pool.withLock { $0.clients.count } }

    private func close(_ unused: HTTPClient) {
        pool.withLock { pool in
            pool.closed += 1
            let number = pool.closed
            pool.closing[number] = Task { [pool = self.pool] in
                try? await unused.shutdown()
                pool.withLock { _ = $0.closing.removeValue(forKey: number) }
            }
        }
    }

    func shutdown() async {
        closing.withLock { $0 = true }
        try? await client.shutdown()
        let (open, shuttingDown) = pool.withLock { pool in
            (pool.clients.values.map(\.client), Array(pool.closing.values))
        }
        for other in open {
            try? await other.shutdown()
        }
        for task in shuttingDown { await task.value }
    }

    /// POSTs the request. `onSent` fires when the body is fully written (rate limiting counts
    /// from there). Cancelling the calling task cancels the request.
    func post(_ request: WebhookRequest, to destination: DestinationSpec, onSent: @escaping @Sendable () -> Void) async -> TransportResult {
        let started = ContinuousClock.now
        let timeout = destination.timeout
        var headers = HTTPHeaders()
        for header in request.headers {
            headers.add(name: header.name, value: header.value)
        }
        let httpRequest: HTTPClient.Request
        do {
            httpRequest = try HTTPClient.Request(url: destination.url.value, method: .POST, headers: headers, body: .data(request.body),
                                                 tlsConfiguration: try tlsConfiguration(of: destination))
        } catch let error as DestinationTLS.FileProblem {
            // `DestinationTLS.problems` refuses such files when the config is loaded; only a
            // loader without that check gets here.
            return TransportResult(result: .failure(TransportFailure(.invalidRequest, "tls.\(error.problem)")),
                                   responseBody: nil, duration: ContinuousClock.now - started)
        } catch {
            return TransportResult(result: .failure(TransportFailure(.invalidRequest, "the URL of \(destination.redactedURL) cannot be used: \(Self.kind(of: error))")),
                                   responseBody: nil, duration: ContinuousClock.now - started)
        }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.seconds * 1e9))
        let collector = ResponseCollector(onSent: onSent)
        let (client, settings) = acquireClient(for: destination)
        defer { release(settings) }
        let task = client.execute(request: httpRequest, delegate: collector, deadline: deadline)
        do {
            let response = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            return TransportResult(result: .response(status: response.status, retryAfter: response.retryAfter),
                                   responseBody: Self.keptBody(response.body, destination: destination),
                                   duration: ContinuousClock.now - started)
        } catch {
            let seen = collector.seen
            if let status = seen.status {
                // The receiver answered; its body did not end (time out, cut short). Its
                // status is its answer: a 2xx has accepted the notification.
                return TransportResult(result: .response(status: status, retryAfter: seen.retryAfter),
                                       responseBody: Self.keptBody(seen.body, destination: destination),
                                       duration: ContinuousClock.now - started)
            }
            let failure = Task.isCancelled || closing.withLock({ $0 })
                ? TransportFailure(.cancelled, "cancelled")
                : Self.failure(error, timeout: timeout, destination: destination, requestWritten: seen.headWritten)
            return TransportResult(result: .failure(failure), responseBody: nil, duration: ContinuousClock.now - started)
        }
    }

    /// The destination's own TLS configuration, nil when it has no `tls` (the client's default:
    /// the system's trusted certificates). Connections are pooled per configuration.
    private func tlsConfiguration(of destination: DestinationSpec) throws -> TLSConfiguration? {
        guard let spec = destination.tls else { return nil }
        if let cached = tlsConfigurations.withLock({ $0[destination.name] }), cached.spec == spec {
            return cached.configuration
        }
        let configuration = try DestinationTLS.configuration(spec)
        tlsConfigurations.withLock { $0[destination.name] = (spec, configuration) }
        return configuration
    }

    /// The start of a response body as it is recorded and shown: a receiver that echoes the
    /// request (httpbin, request inspectors) would otherwise hand back the URL's path and
    /// query and the destination's header values, which the attempt record and `send-test`
    /// must not hold.
    static func keptBody(_ body: Data, destination: DestinationSpec) -> String {
        guard !body.isEmpty else { return "" }
        let forms = secretForms(of: destination)
        var text = replace(forms, in: String(decoding: body, as: UTF8.self))
        // An answer cut at `collectLimit` may end inside a secret, which no form matches; what
        // follows the last replacement is the answer's own text, so dropping as many bytes as
        // the longest form (twice, below) leaves none of it (replacements that shrank the text
        // by more than the margin brought that end within the part kept).
        if body.count >= collectLimit, let longest = forms.first?.secret.utf8.count {
            // Twice: a shorter piece of it matched inside the cut secret is replaced by a
            // placeholder that may be longer than the piece, which moves its raw start back.
            text = String(decoding: text.utf8.dropLast(2 * longest), as: UTF8.self)
        }
        // The first KB, cut between characters.
        var kept = ""
        var bytes = 0
        for character in text {
            bytes += character.utf8.count
            if bytes > bodyLimit { break }
            kept.append(character)
        }
        return kept
    }

    /// Every form of the destination's secrets that `keptBody` replaces (`inEveryForm`), worked
    /// out once per URL and headers rather than for every answer (a URL parse and some hundred
    /// encodings: at full speed, a fifth of the delivery's CPU).
    static func secretForms(of destination: DestinationSpec) -> [(secret: String, placeholder: String)] {
        var key = destination.url.value
        for header in destination.headerList { key += "\u{0}" + header.name + "\u{0}" + header.value.value }
        if let known = formsCache.withLock({ $0[key] }) { return known }
        var secrets = secretPieces(url: destination.url.value)
        for header in destination.headerList where header.value.value.count >= 4 {
            secrets += secretPieces(header: header.name, value: header.value.value)
        }
        let forms = inEveryForm(secrets)
        formsCache.withLock { cache in
            // Reloads that change secrets leave their old forms behind: a bound, not an index.
            if cache.count >= 64 { cache.removeAll() }
            cache[key] = forms
        }
        return forms
    }

    private static let formsCache = LockedState<[String: [(secret: String, placeholder: String)]]>([:])

    /// The connection was (or got) closed: by the receiver, idle, or under the request.
    static func isClosedConnection(_ error: any Error) -> Bool {
        if let error = error as? ChannelError { return error == .ioOnClosedChannel || error == .eof || error == .outputClosed }
        if let error = error as? HTTPClientError { return error == .remoteConnectionClosed }
        if let error = error as? IOError { return [ECONNRESET, EPIPE].contains(error.errnoCode) }
        return false
    }

    /// Names the failure without the URL (client errors can quote it, and its path or query
    /// may hold a token) and without header values (the client's own description of a header
    /// it refuses quotes the value).
    /// `requestWritten`: whether the request's head had been written when it failed (a closed
    /// connection is then told apart from one closed before anything was sent).
    static func failure(_ error: any Error, timeout: Duration, destination: DestinationSpec, requestWritten: Bool = true) -> TransportFailure {
        if let errno = outOfDescriptors(error) {
            return TransportFailure(.localResources, "this process has no file descriptor left for the request's socket "
                + "(\(String(cString: strerror(errno)))): it was not sent")
        }
        let closedBefore = requestWritten ? "before a response" : "before the request was sent"
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return TransportFailure(.timeout, "no complete response within \(DurationText.format(timeout)) (timeout)")
            case .connectTimeout, .tlsHandshakeTimeout:
                return TransportFailure(.timeout, "could not connect to \(connectTarget(destination)) in time")
            case .proxyAuthenticationRequired:
                let proxy = destination.proxy?.redacted ?? "the proxy"
                return TransportFailure(.connection, destination.proxy?.basicCredentials == nil
                    ? "the proxy \(proxy) asks for credentials (407): give them in the proxy URL, http://user:password@host:port"
                    : "the proxy \(proxy) refused the credentials of the proxy URL (407)")
            case .invalidProxyResponse:
                // The client does not hand the proxy's status on: say what it can mean.
                return TransportFailure(.connection, "the proxy \(destination.proxy?.redacted ?? "") refused to open a tunnel to \(destination.redactedURL) "
                    + "(its answer to CONNECT was not 200: its rules refuse that host or port, it refuses the credentials, "
                    + "or it cannot reach the destination; the proxy's log says which)")
            case .httpProxyHandshakeTimeout:
                return TransportFailure(.timeout, "the proxy \(destination.proxy?.redacted ?? "") did not answer CONNECT in time")
            case .cancelled, .alreadyShutdown:
                return TransportFailure(.cancelled, "cancelled")
            case .remoteConnectionClosed:
                return TransportFailure(.connection, "the connection was closed \(closedBefore)")
            case .invalidURL, .emptyHost, .emptyScheme:
                return TransportFailure(.invalidRequest, "the URL of \(destination.redactedURL) cannot be used: \(clientError.shortDescription)")
            default:
                // The header cases carry the header's text, so they are told by their short
                // description, which never holds it.
                if clientError.shortDescription.hasPrefix("Invalid header field") {
                    return TransportFailure(.invalidRequest, "a header of \(destination.name) cannot be sent (\(clientError.shortDescription.lowercased())): it holds characters HTTP does not allow")
                }
                return TransportFailure(.connection, "HTTP error: \(clientError.shortDescription.lowercased())")
            }
        }
        if let connectionError = error as? NIOConnectionError {
            let causes = connectionError.connectionErrors.map { describe($0.error, destination: destination) }
            let dns = [connectionError.dnsAAAAError, connectionError.dnsAError].compactMap { $0 }.map { describe($0, destination: destination) }
            let cause = causes.first ?? dns.first ?? "no address"
            return TransportFailure(.connection, "cannot connect to \(connectTarget(destination)): \(cause)")
        }
        if let unknownHost = error as? SocketAddressError.UnknownHost {
            return TransportFailure(.connection, "cannot connect to \(connectTarget(destination)): \(describe(unknownHost, destination: destination))")
        }
        if let ioError = error as? IOError {
            switch ioError.errnoCode {
            case ECONNRESET, EPIPE:
                return TransportFailure(.connection, "the connection was reset \(closedBefore)")
            case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, EADDRNOTAVAIL:
                return TransportFailure(.connection, "cannot connect to \(connectTarget(destination)): \(describe(ioError, destination: destination))")
            default:
                return TransportFailure(.connection, "connection error: \(describe(ioError, destination: destination))")
            }
        }
        if let channelError = error as? ChannelError {
            if isClosedConnection(channelError) {
                return TransportFailure(.connection, "the connection was closed \(closedBefore)")
            }
            return TransportFailure(.connection, "connection error: \(describe(channelError, destination: destination))")
        }
        if let parserError = error as? HTTPParserError {
            if parserError == .headerOverflow {
                return TransportFailure(.connection, "the answer's header is too large (too many fields, or a field or the whole header too long for the HTTP client)")
            }
            return TransportFailure(.connection, "the answer is not HTTP/1.1 (\(parserError))")
        }
        if let message = TLSFailure.message(error) {
            return TransportFailure(.connection, message)
        }
        return TransportFailure(.connection, "\(kind(of: error)): \(redact(String(describing: error), url: destination.url.value))")
    }

    /// `EMFILE` or `ENFILE` when the error is this process (or the system) out of file
    /// descriptors, as the socket's creation or the connection attempts report it.
    static func outOfDescriptors(_ error: any Error) -> Int32? {
        if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE { return error.errnoCode }
        if let error = error as? NIOConnectionError {
            return error.connectionErrors.lazy.compactMap { outOfDescriptors($0.error) }.first
        }
        return nil
    }

    /// Whom a connection goes to: the destination, or its proxy.
    static func connectTarget(_ destination: DestinationSpec) -> String {
        destination.proxy.map { "the proxy \($0.redacted)" } ?? destination.redactedURL
    }

    /// A socket error in the system's words ("Connection refused"), a name that does not
    /// resolve as "unknown host (Name or service not known)", anything else redacted.
    static func describe(_ error: any Error, destination: DestinationSpec) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? SocketAddressError.UnknownHost { return "unknown host (\(error.errorDescription))" }
        return redact(String(describing: error), url: destination.url.value)
    }

    static func kind(of error: any Error) -> String {
        String(describing: type(of: error))
    }

    /// Removes the URL and its path, query and password from a message.
    static func redact(_ text: String, url: String) -> String {
        replace(inEveryForm(secretPieces(url: url)), in: text)
    }

    /// What of a URL may be a secret, with what stands in for it: the URL, its path, query and
    /// password, and alone each query value and path segment of 8 characters or more (a token;
    /// shorter ones, such as `true` or `json`, would blot out ordinary words of the answer), as
    /// sent and percent-decoded. (A destination's URL has no password any more: it became a
    /// Basic `Authorization` header, see `secretPieces(header:value:)`.)
    static func secretPieces(url: String) -> [(secret: String, placeholder: String)] {
        var pieces: [(secret: String, placeholder: String)] = [(url, "<url>")]
        guard let components = URLComponents(string: url) else { return pieces }
        func add(_ secret: String?, _ placeholder: String, atLeast length: Int = 1) {
            guard let secret, secret.count >= length else { return }
            pieces.append((secret, placeholder))
            if let decoded = secret.removingPercentEncoding, decoded != secret, decoded.count >= length {
                pieces.append((decoded, placeholder))
            }
        }
        let path = components.percentEncodedPath
        if path.count > 1 { add(path, "<path>") }
        for segment in path.split(separator: "/") where !isOrdinaryWord(segment) { add(String(segment), "<path>", atLeast: 8) }
        add(components.percentEncodedQuery, "<query>")
        for item in components.percentEncodedQueryItems ?? [] where !isOrdinaryWord(item.value ?? "") {
            add(item.value, "<query>", atLeast: 8)
            add(item.value?.replacingOccurrences(of: "+", with: "%20"), "<query>", atLeast: 8)
        }
        add(components.percentEncodedPassword, "<password>")
        return pieces
    }

    /// A header value, with alone each of its words of 8 characters or more (the token of
    /// `Bearer …`, of `Token token="…"`, OAuth's and Digest's quoted parameters, a cookie's or a
    /// form's values, which receivers echo parsed) and, for Basic
    /// credentials (a URL's user and password become them), the password decoded, as an echo
    /// shows them.
    static func secretPieces(header name: String, value: String) -> [(secret: String, placeholder: String)] {
        let placeholder = "<\(name.lowercased())>"
        var pieces: [(secret: String, placeholder: String)] = [(value, placeholder)]
        let words = value.split(separator: " ")
        let parts = value.split { " ,;&=\"'".contains($0) }
        pieces += parts.filter { $0.count >= 8 && !isOrdinaryWord($0) }.map { (String($0), placeholder) }
        // An authorization's credentials after its scheme, whole and word by word, whatever
        // the separators inside (`Bearer r=G7pN7w`: its parts were each too short to be looked
        // for). Only there: the words of other headers (`X-Source: production plant`) are
        // ordinary text an answer may hold.
        if words.count > 1, isAuthorization(name) || authorizationSchemes.contains(words[0].lowercased()) {
            let credentials = words.dropFirst()
            pieces += credentials.filter { $0.count >= 8 && !isOrdinaryWord($0) }.map { (String($0), placeholder) }
            if credentials.count > 1 { pieces.append((credentials.joined(separator: " "), placeholder)) }
        }
        if words.count == 2, words[0].caseInsensitiveCompare("Basic") == .orderedSame,
           let decoded = Data(base64Encoded: String(words[1])).map({ String(decoding: $0, as: UTF8.self) }),
           let colon = decoded.firstIndex(of: ":") {
            let password = String(decoded[decoded.index(after: colon)...])
            if password.count >= 4 { pieces.append((password, "<password>")) }
        }
        return pieces
    }

    /// `Authorization`, `Proxy-Authorization`: a scheme, then credentials.
    static func isAuthorization(_ name: String) -> Bool {
        ["authorization", "proxy-authorization"].contains(name.lowercased())
    }

    /// The schemes of RFC 9110's and common credentials, when another header carries them.
    static let authorizationSchemes: Set<String> = ["bearer", "basic", "token", "digest", "negotiate", "oauth", "apikey", "key"]

    /// A short word of lowercase letters, `-` and `_` (`webhooks`, `services`): a part of a URL
    /// or header that names something, not a token, and not looked for alone (it would blot out
    /// the same word in the answer). From `ordinaryWordLimit` characters on, such a word is as
    /// likely a secret: an ntfy topic (`plant-maintenance-overdue-alerts`) is its only key.
    static func isOrdinaryWord(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.count < ordinaryWordLimit
            && text.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    static let ordinaryWordLimit = 12

    /// Each secret also as a JSON string holds it (`\"`, `\\`), with its slashes escaped too
    /// (`http:\/\/…`, PHP's and many frameworks' default), and percent-encoded whole, once and
    /// twice (a receiver that echoes the URL inside another, a login page's `?next=…`, encodes
    /// every `/`, `=`, `&`, `+` and `%` of it; Django's keeps the `/`), longest first, so a whole
    /// is replaced before its parts.
    static func inEveryForm(_ pieces: [(secret: String, placeholder: String)]) -> [(secret: String, placeholder: String)] {
        var all = pieces.filter { !$0.secret.isEmpty }
        all += all.filter { $0.secret.contains("\"") || $0.secret.contains("\\") }.map { (PayloadJSON.escaped($0.secret), $0.placeholder) }
        all += all.filter { $0.secret.contains("/") }.map { ($0.secret.replacingOccurrences(of: "/", with: "\\/"), $0.placeholder) }
        // JSON with non-ASCII written as `\u00e9` (Python's `json.dumps`, Flask's and Django's
        // echoes), in either case of hex digits.
        all += all.filter { !$0.secret.utf8.allSatisfy { $0 < 0x80 } }.flatMap { piece in
            [false, true].map { (asciiEscaped(piece.secret, uppercase: $0), piece.placeholder) }
        }
        func encodings(_ pieces: [(secret: String, placeholder: String)]) -> [(secret: String, placeholder: String)] {
            pieces.flatMap { piece in
                [(percentEncodedWhole(piece.secret), piece.placeholder), (percentEncodedWhole(piece.secret, keepingSlashes: true), piece.placeholder)]
            }.filter { $0.secret.contains("%") }
        }
        let encoded = encodings(all)
        all += encoded + encodings(encoded)
        var seen: Set<String> = []
        return all.filter { seen.insert($0.secret).inserted }.sorted { $0.secret.utf8.count > $1.secret.utf8.count }
    }

    /// `text` with every non-ASCII character as JSON's `\uXXXX` (UTF-16 units: a character
    /// beyond U+FFFF as its two surrogates).
    static func asciiEscaped(_ text: String, uppercase: Bool) -> String {
        var result = ""
        for unit in text.utf16 {
            if unit < 0x80 {
                result.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            } else {
                let hex = String(unit, radix: 16, uppercase: uppercase)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return result
    }

    /// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`, and `/` when kept)
    /// as `%XX` (Foundation's encoder, upper-case hex).
    static func percentEncodedWhole(_ text: String, keepingSlashes: Bool = false) -> String {
        text.addingPercentEncoding(withAllowedCharacters: keepingSlashes ? unreservedAndSlash : unreserved) ?? text
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    private static let unreservedAndSlash = unreserved.union(CharacterSet(charactersIn: "/"))

    /// A percent-encoded secret is looked for in either case of its hex digits (`%2F`, `%2f`).
    static func replace(_ pieces: [(secret: String, placeholder: String)], in text: String) -> String {
        var result = text
        // Most answers are a few bytes ("ok"): no secret longer than the text, and no encoded
        // one in a text without `%`, can be in it.
        let hasPercent = text.utf8.contains(UInt8(ascii: "%"))
        for piece in pieces where piece.secret.utf8.count <= result.utf8.count {
            let encoded = piece.secret.utf8.contains(UInt8(ascii: "%"))
            if encoded, !hasPercent { continue }
            let options: String.CompareOptions = encoded ? [.caseInsensitive] : []
            guard result.range(of: piece.secret, options: options) != nil else { continue }
            result = result.replacingOccurrences(of: piece.secret, with: piece.placeholder, options: options)
        }
        return result
    }
}

/// Collects the status, `Retry-After` and the first KB of a response, and reports when the
/// request has been written. Its state is touched on the request's event loop, but the
/// delegate must be `Sendable`, hence the lock.
final class ResponseCollector: HTTPClientResponseDelegate {
    struct Response: Sendable {
        var status: Int
        var retryAfter: String?
        var body: Data
    }

    /// What arrived so far, for a request that failed: whether its head was written, and the
    /// response's status (nil before its head), `Retry-After` and body start.
    struct Seen: Sendable {
        var headWritten = false
        var status: Int?
        var retryAfter: String?
        var body = Data()
    }

    private let onSent: @Sendable () -> Void
    private let state = LockedState(Seen())

    init(onSent: @escaping @Sendable () -> Void) {
        self.onSent = onSent
    }

    var seen: Seen { state.withLock { $0 } }

    func didSendRequestHead(task: HTTPClient.Task<Response>, _ head: HTTPRequestHead) {
        state.withLock { $0.headWritten = true }
    }

    func didSendRequest(task: HTTPClient.Task<Response>) {
        onSent()
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock {
            $0.status = Int(head.status.code)
            // A field sent once (RFC 9110 §10.2.3): several that disagree (`3` and `3600`) are
            // unreadable as a whole, and the backoff applies, rather than whichever came first.
            let values = head.headers["Retry-After"]
            $0.retryAfter = Set(values.map { $0.trimmingCharacters(in: .whitespaces) }).count > 1
                ? values.joined(separator: ", ")
                : values.first.map { RetryAfter.onReceiversClock($0, responseDate: head.headers.first(name: "Date")) }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        state.withLock { state in
            let room = WebhookTransport.collectLimit - state.body.count
            if room > 0 {
                state.body.append(contentsOf: buffer.readableBytesView.prefix(room))
            }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        state.withLock { Response(status: $0.status ?? 0, retryAfter: $0.retryAfter, body: $0.body) }
    }
}
