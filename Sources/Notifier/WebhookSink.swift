public import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import OverduedConfig
internal import TextEscaping

/// A local receiver for trying a setup (`overdued sink`, like `stripe listen`): prints every
/// webhook it gets, checks its signature when given the secret, and answers 200 — or 401
/// when the signature does not verify, so the sender sees a failure as a real receiver
/// would report it; 413 for a body over `bodyLimit`.
public final class WebhookSink: Sendable {
    /// The largest body the sink reads (and verifies): far above any webhook, small enough
    /// that a runaway sender cannot fill the memory of the machine it is tried on.
    public static let defaultBodyLimit = 32 << 20
    /// How long a connection may send nothing (idle between requests, or stopped inside one).
    public static let defaultIdleTimeout: Duration = .seconds(30)

    /// One received request.
    public struct Delivery: Sendable {
        public var receivedAt: Date
        public var method: String
        /// The request's path and query, for tests: never printed (``formatted(pretty:)``),
        /// since a webhook URL's path or query often holds its token.
        public var path: String
        public var headers: [(name: String, value: String)]
        /// The whole body; empty when it was over the limit (then `bodySize` says how big).
        public var body: Data
        /// Bytes of body received.
        public var bodySize: Int
        /// nil when the sink has no signing secret.
        public var verification: WebhookSignature.Verification?
        /// The status the sink answered.
        public var status: Int
        /// When the sink first took a request with this `webhook-id` (it answered 2xx then):
        /// this one is a repeat, which a receiver should acknowledge and not act on twice.
        /// nil: the first (or no id, or not accepted).
        public var firstReceivedAt: Date?

        public var webhookID: String? { header("webhook-id") }

        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// A readable block: one summary line, then the body (pretty-printed when it is JSON);
        /// not `pretty`: one line, the body (compact) after the summary.
        /// The URL's path and query are left out, as everywhere in overdued: they may hold a token.
        public func formatted(pretty: Bool = true) -> String {
            var line = "\(PayloadTimestamp.iso8601(receivedAt)) \(method) (path and query hidden) -> \(status)"
            // Header values as sent may hold any byte from 0x80 up: C1 controls, overrides.
            line += "  webhook-id=\(webhookID.map { PrintableText.escaped($0) } ?? "-")"
            if let type = header("content-type") { line += "  content-type=\(PrintableText.escaped(type))" }
            if let verification { line += "  \(verification)" }
            line += "  \(bodySize) bytes"
            if let firstReceivedAt { line += "  repeat: first received at \(PayloadTimestamp.iso8601(firstReceivedAt))" }
            let separator = pretty ? "\n" : "  "
            if status == 413 {
                return line + separator + "(body not kept: over the sink's limit)"
            }
            return line + separator + Self.bodyText(body, pretty: pretty)
        }

        /// The body as sent, laid out again (indented, or on one line): its members stay in
        /// the order the sender wrote them (the legacy payload's order is part of its
        /// contract) and its numbers as written.
        static func bodyText(_ body: Data, pretty: Bool) -> String {
            if body.isEmpty { return "(empty body)" }
            if let object = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) {
                // Laid out from the bytes sent when they are UTF-8 (a byte-order mark left out);
                // JSON in UTF-16 or UTF-32, which Foundation reads too, is written again from
                // its value (its members' order then is not the sender's).
                let utf8 = body.starts(with: [0xEF, 0xBB, 0xBF]) ? body.dropFirst(3) : body[...]
                var text: [UInt8]
                // (UTF-16 of ASCII text is valid UTF-8 too, with NULs, which JSON text never holds.)
                if !utf8.contains(0), String(validating: utf8, as: UTF8.self) != nil {
                    text = laidOut(Data(utf8), pretty: pretty, upTo: printLimit + 1)
                } else if let data = try? JSONSerialization.data(withJSONObject: object, options: pretty
                              ? [.prettyPrinted, .withoutEscapingSlashes, .fragmentsAllowed] : [.withoutEscapingSlashes, .fragmentsAllowed]) {
                    text = [UInt8](data.prefix(printLimit + 1))
                } else {
                    return "(not JSON) " + PrintableText.escaped(String(decoding: body.prefix(4096), as: UTF8.self))
                }
                let cut = text.count > printLimit
                if cut { text.removeLast(text.count - printLimit) }
                // JSON leaves C1 controls and bidirectional overrides unescaped.
                let printed = PrintableText.escaped(String(decoding: text, as: UTF8.self), keepingLineBreaks: pretty)
                return cut ? printed + (pretty ? "\n" : " ") + "… (cut: the sink prints \(printLimit / 1024) KiB of a body laid out)" : printed
            }
            return "(not JSON) " + PrintableText.escaped(String(decoding: body.prefix(4096), as: UTF8.self))
        }

        /// How much of a body laid out the sink prints. Indented, a small body can grow without
        /// bound (two spaces a level on every line: 21 KB nested 500 deep made 10.5 MB, and 28 s
        /// of escaping on the connection's event loop, holding every other request).
        static let printLimit = 64 * 1024

        /// Valid JSON text with the white space between its tokens replaced: two spaces a
        /// level and `"key" : value` when `pretty` (as `JSONSerialization` indents), none
        /// otherwise. Strings are copied byte for byte. Stops once `limit` bytes are written.
        static func laidOut(_ json: Data, pretty: Bool, upTo limit: Int = .max) -> [UInt8] {
            let bytes = [UInt8](json)
            var output: [UInt8] = []
            output.reserveCapacity(min(limit, bytes.count * (pretty ? 2 : 1)))
            var depth = 0
            func newline() {
                guard pretty else { return }
                output.append(UInt8(ascii: "\n"))
                output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
            }
            func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
            /// The next byte that is not white space, from `index` on.
            func nextToken(after index: Int) -> UInt8? { bytes[(index + 1)...].first { !isSpace($0) } }
            var index = 0
            var inString = false
            while index < bytes.count, output.count < limit {
                let byte = bytes[index]
                if inString {
                    output.append(byte)
                    if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                        output.append(bytes[index])
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    index += 1
                    continue
                }
                switch byte {
                case _ where isSpace(byte):
                    break
                case UInt8(ascii: "\""):
                    inString = true
                    output.append(byte)
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    output.append(byte)
                    let closing = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if nextToken(after: index) == closing {
                        // Empty: `{}` or `[]`, on the same line.
                        index = bytes[(index + 1)...].firstIndex(of: closing) ?? index
                        output.append(closing)
                    } else {
                        depth += 1
                        newline()
                    }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    newline()
                    output.append(byte)
                case UInt8(ascii: ","):
                    output.append(byte)
                    newline()
                case UInt8(ascii: ":"):
                    output.append(contentsOf: pretty ? Array(" : ".utf8) : [byte])
                default:
                    output.append(byte)
                }
                index += 1
            }
            return output
        }
    }

    public struct StartError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private let host: String
    private let port: Int
    private let signature: WebhookSignature?
    private let bodyLimit: Int
    private let idleTimeout: TimeAmount
    private let onDelivery: @Sendable (Delivery) -> Void
    private let now: @Sendable () -> Date
    private let channel = LockedState<(any Channel)?>(nil)
    private let accepted = LockedState(AcceptedIDs())

    /// - Parameters:
    ///   - port: 0 picks a free port (see the value `start()` returns).
    ///   - signingSecret: the `whsec_` secret; nil: no verification.
    ///   - bodyLimit: a larger body is read to its end and dropped, and answered 413.
    public init(host: String = "127.0.0.1", port: Int = 8787, signingSecret: String? = nil,
                bodyLimit: Int = WebhookSink.defaultBodyLimit, idleTimeout: Duration = WebhookSink.defaultIdleTimeout,
                now: @escaping @Sendable () -> Date = Date.init,
                onDelivery: @escaping @Sendable (Delivery) -> Void) throws(StartError) {
        self.host = host
        self.port = port
        self.bodyLimit = bodyLimit
        self.idleTimeout = .nanoseconds(Int64(idleTimeout.components.seconds) * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000)
        if let signingSecret {
            guard let signature = WebhookSignature(secret: signingSecret) else {
                throw StartError(description: "the signing secret is not \"whsec_\" followed by base64")
            }
            self.signature = signature
        } else {
            signature = nil
        }
        self.onDelivery = onDelivery
        self.now = now
    }

    /// Listens; returns the bound port.
    public func start() async throws -> Int {
        let signature = self.signature
        let bodyLimit = self.bodyLimit
        let onDelivery = self.onDelivery
        let now = self.now
        let accepted = self.accepted
        let idleTimeout = self.idleTimeout
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection that sends nothing for that long is closed: twelve senders that
                    // stopped inside 31 MiB bodies held 410 MB for as long as they stayed open.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        SinkHandler(signature: signature, bodyLimit: bodyLimit, now: now, accepted: accepted, onDelivery: onDelivery))
                }
            }
        let bound: any Channel
        do {
            bound = try await bootstrap.bind(host: host, port: port).get()
        } catch let error as IOError {
            // In the system's words, lower-cased to follow "cannot listen on HOST:PORT: ";
            // NIO's own text names its internal call and repeats the errno.
            let words = String(cString: strerror(error.errnoCode))
            throw StartError(description: words.prefix(1).lowercased() + words.dropFirst())
        } catch let error as SocketAddressError.UnknownHost {
            throw StartError(description: "unknown host (\(error.errorDescription))")
        }
        channel.withLock { $0 = bound }
        guard let port = bound.localAddress?.port else {
            try? await bound.close()
            throw StartError(description: "listening on \(host):\(port) gave no local port")
        }
        return port
    }

    /// Stops listening; requests being answered are cut.
    public func stop() async {
        let bound = channel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try? await bound?.close()
    }
}

/// Reads one request at a time on a connection and answers it.
private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let signature: WebhookSignature?
    private let bodyLimit: Int
    private let now: @Sendable () -> Date
    private let accepted: LockedState<AcceptedIDs>
    private let onDelivery: @Sendable (WebhookSink.Delivery) -> Void
    private var head: HTTPRequestHead?
    private var body = Data()
    /// Bytes of the current request's body, kept or not.
    private var bodySize = 0

    init(signature: WebhookSignature?, bodyLimit: Int, now: @escaping @Sendable () -> Date,
         accepted: LockedState<AcceptedIDs>, onDelivery: @escaping @Sendable (WebhookSink.Delivery) -> Void) {
        self.signature = signature
        self.bodyLimit = bodyLimit
        self.now = now
        self.accepted = accepted
        self.onDelivery = onDelivery
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = Data()
            bodySize = 0
            // curl asks before a body over 1 KB, and waited a second for an answer that never came.
            if head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(let buffer):
            // The whole body or none of it: a cut body would only fail verification.
            bodySize += buffer.readableBytes
            if bodySize <= bodyLimit {
                body.append(contentsOf: buffer.readableBytesView)
            } else if !body.isEmpty {
                body = Data()
            }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let receivedAt = now()
        let headers = head.headers.map { (name: $0.name, value: $0.value) }
        let tooLarge = bodySize > bodyLimit
        let verification = tooLarge ? nil : signature?.verify(id: head.headers.first(name: "webhook-id"),
                                                              timestamp: head.headers.first(name: "webhook-timestamp"),
                                                              signatureHeader: head.headers.first(name: "webhook-signature"),
                                                              body: body, now: receivedAt)
        let status: HTTPResponseStatus = tooLarge ? .payloadTooLarge
            : (verification == nil || verification == .valid) ? .ok : .unauthorized
        // Only an accepted request counts as received: a refused one is rightly sent again.
        let id = head.headers.first(name: "webhook-id")
        let firstReceivedAt = status == .ok ? id.flatMap { id in accepted.withLock { $0.note(id, at: receivedAt) } } : nil
        onDelivery(WebhookSink.Delivery(receivedAt: receivedAt, method: head.method.rawValue, path: head.uri,
                                        headers: headers, body: body, bodySize: bodySize, verification: verification,
                                        status: Int(status.code), firstReceivedAt: firstReceivedAt))
        let answer = switch status {
        case .ok: #"{"ok":true}"#
        case .payloadTooLarge: #"{"ok":false,"error":"the body is larger than the sink's limit of \#(bodyLimit) bytes"}"#
        default: #"{"ok":false,"error":"signature verification failed"}"#
        }
        var responseHeaders = HTTPHeaders()
        responseHeaders.add(name: "Content-Type", value: "application/json")
        responseHeaders.add(name: "Content-Length", value: String(answer.utf8.count))
        if !head.isKeepAlive { responseHeaders.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: responseHeaders))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer)))), promise: nil)
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        body = Data()
        bodySize = 0
    }
}

/// The `webhook-id`s the sink accepted, with when it first did: the most recent
/// `capacity`, so a sink left running for days holds a bounded set; ids longer than
/// `longestID` bytes are not kept (3,000 of 70 KB took 200 MB: bounded by count alone, the
/// set could grow to gigabytes).
struct AcceptedIDs {
    static let capacity = 100_000
    static let longestID = 256
    private var firstSeen: [String: Date] = [:]
    private var order: [String] = []
    private var oldest = 0

    /// Records `id` (at `date`) unless known; returns when it was first accepted if it was.
    mutating func note(_ id: String, at date: Date) -> Date? {
        guard id.utf8.count <= Self.longestID else { return nil }
        if let first = firstSeen[id] { return first }
        firstSeen[id] = date
        if order.count < Self.capacity {
            order.append(id)
        } else {
            firstSeen[order[oldest]] = nil
            order[oldest] = id
            oldest = (oldest + 1) % Self.capacity
        }
        return nil
    }
}
