import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TestSupport

/// A real HTTP/1.1 receiver on 127.0.0.1 that records every request (arrival time on the
/// monotonic clock, headers, body) and answers from a script: the other end of the
/// delivery tests. With a TLS context it speaks HTTPS.
final class ScriptedServer: Sendable {
    enum Reply: Sendable {
        case status(Int, headers: [(String, String)] = [], body: String = "")
        /// Answers after the delay (longer than the client's timeout: a hung receiver), 200
        /// unless told otherwise.
        case slow(Duration, status: Int = 200, headers: [(String, String)] = [])
        /// Closes the connection without answering.
        case close
        /// Sends the status line and headers announcing a 1,000-byte body, 7 bytes of it, and
        /// then nothing more: a receiver that answered and stalled.
        case headThenStall(Int)
    }

    struct Request: Sendable {
        var arrival: ContinuousClock.Instant
        /// The same instant on the wall clock, to compare with times the notifier records.
        var arrivalDate: Date
        var method: String
        var path: String
        var headers: [(name: String, value: String)]
        var body: Data
        /// The client's port: requests with the same one came on the same connection.
        var connection: Int

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }
    }

    private let script: @Sendable (_ index: Int, _ request: Request) -> Reply
    private let recorded = Locked<[Request]>([])
    private let channel = Locked<(any Channel)?>(nil)
    private let boundPort = Locked(0)
    private let tls: NIOSSLContext?

    /// `script(index, request)` picks the reply; index 0 is the first request.
    init(tls: NIOSSLContext? = nil, script: @escaping @Sendable (_ index: Int, _ request: Request) -> Reply) {
        self.tls = tls
        self.script = script
    }

    /// Replies in order, then `otherwise` for every later request.
    convenience init(_ replies: [Reply], otherwise: Reply = .status(200), tls: NIOSSLContext? = nil) {
        self.init(tls: tls) { index, _ in index < replies.count ? replies[index] : otherwise }
    }

    var requests: [Request] { recorded.current }
    var port: Int { boundPort.current }
    var url: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)/hooks/secret-token?key=abc" }

    func start() async throws {
        let recorded = self.recorded
        let script = self.script
        let tls = self.tls
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(recorded: recorded, script: script))
                }
            }
        let bound = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        boundPort.withLock { $0 = bound.localAddress?.port ?? 0 }
    }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let recorded: Locked<[Request]>
        let script: @Sendable (Int, Request) -> Reply
        var current: Request?

        init(recorded: Locked<[Request]>, script: @escaping @Sendable (Int, Request) -> Reply) {
            self.recorded = recorded
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                current = Request(arrival: .now, arrivalDate: Date(), method: head.method.rawValue, path: head.uri,
                                  headers: head.headers.map { (name: $0.name, value: $0.value) }, body: Data(),
                                  connection: context.channel.remoteAddress?.port ?? 0)
            case .body(var buffer):
                if let bytes = buffer.readBytes(length: buffer.readableBytes) { current?.body.append(contentsOf: bytes) }
            case .end:
                guard let request = current else { return }
                current = nil
                let index = recorded.withLock { list in
                    list.append(request)
                    return list.count - 1
                }
                switch script(index, request) {
                case .status(let code, let headers, let body):
                    answer(context: context, status: code, headers: headers, body: body)
                case .slow(let delay, let status, let headers):
                    context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000
                                                                                 + delay.components.attoseconds / 1_000_000_000)) {
                        self.answer(context: context, status: status, headers: headers, body: "late")
                    }
                case .close:
                    context.close(promise: nil)
                case .headThenStall(let code):
                    let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: code),
                                                headers: ["Content-Length": "1000"])
                    context.write(wrapOutboundOut(.head(head)), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "partial")))), promise: nil)
                }
            }
        }

        func answer(context: ChannelHandlerContext, status: Int, headers: [(String, String)], body: String) {
            guard context.channel.isActive else { return }
            var responseHeaders = HTTPHeaders(headers)
            responseHeaders.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
