import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
@testable import Notifier
import OverduedConfig
import Store
import Testing
import TestSupport

@Suite struct WebhookSinkTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test func printsVerifiesAndAnswers() async throws {
        let received = Locked<[WebhookSink.Delivery]>([])
        let sink = try WebhookSink(port: 0, signingSecret: Self.secret) { delivery in received.withLock { $0.append(delivery) } }
        let port = try await sink.start()
        let url = "http://127.0.0.1:\(port)/hook"
        let outbox = try Fixtures.outbox()
        let notifier = Notifier(outbox: outbox, destinations: [], userAgentVersion: "1", logger: Logger(label: "test"))

        let good = try Fixtures.destination(url: url, signingSecret: Self.secret)
        let goodResult = await notifier.sendTest(destination: good)
        let otherSecret = "whsec_" + Data("another key of 24 bytes!".utf8).base64EncodedString()
        let bad = try Fixtures.destination(url: url, signingSecret: otherSecret)
        let badResult = await notifier.sendTest(destination: bad)
        await notifier.shutdown(grace: .zero)
        await sink.stop()

        #expect(goodResult.httpStatus == 200)
        #expect(badResult.httpStatus == 401)
        let deliveries = received.current
        #expect(deliveries.count == 2)
        let first = try #require(deliveries.first)
        #expect(first.verification == .valid)
        #expect(first.webhookID == goodResult.notificationID)
        #expect(first.path == "/hook")
        let text = first.formatted()
        #expect(text.contains("POST (path and query hidden) -> 200"), "\(text)")
        #expect(text.contains(goodResult.notificationID))
        #expect(text.contains("signature valid"))
        #expect(text.contains("\"type\" : \"overdued.test\"") || text.contains("\"type\": \"overdued.test\""), "\(text)")
        #expect(deliveries.last?.verification != .valid)
        #expect(deliveries.last?.formatted().contains("INVALID") == true)
    }

    /// A webhook URL's path or query often holds its token: the sink prints neither.
    /// What the sink prints of a body is text for a terminal: JSON escapes C0 controls itself,
    /// not C1 controls or bidirectional overrides, which are escaped as in every other output.
    @Test func bodiesArePrintedWithTheirControlCharactersEscaped() {
        let json = Data(#"{"title": "IGP-1 \#u{9B}2J \#u{202E}evil", "n": "a\nb"}"#.utf8)
        let printed = WebhookSink.Delivery.bodyText(json, pretty: true)
        #expect(!printed.unicodeScalars.contains { $0.value == 0x9B || $0.value == 0x202E }, "\(printed)")
        #expect(printed.contains("\\u{9B}2J \\u{202E}evil"), "\(printed)")
        #expect(printed.contains("\n"), "pretty-printed lines stay lines")
        let plain = WebhookSink.Delivery.bodyText(Data("plain \u{1B}]0;x\u{7}".utf8), pretty: false)
        #expect(plain == "(not JSON) plain \\u{1B}]0;x\\u{7}")
    }

    /// The body is shown as it was sent: the legacy payload's field order is part of its
    /// contract, and a sink that printed the members in another order each time (as a
    /// dictionary's) made a correct payload look wrong. `--compact` is one line a webhook.
    @Test func bodiesKeepTheirMembersOrderAndNumbers() throws {
        let body = Data(#"{"ticket_id":"IGP-1","title":"a , b : \"c\" {d} [e]","overdue_days":2.50,"nested":{"z":[1, {}],"a":[]},"x":null}"#.utf8)
        #expect(WebhookSink.Delivery.bodyText(body, pretty: true) == #"""
            {
              "ticket_id" : "IGP-1",
              "title" : "a , b : \"c\" {d} [e]",
              "overdue_days" : 2.50,
              "nested" : {
                "z" : [
                  1,
                  {}
                ],
                "a" : []
              },
              "x" : null
            }
            """#)
        let compact = WebhookSink.Delivery.bodyText(Data(" {\n \"b\" : 1,\t\"a\":[ 2 ] } ".utf8), pretty: false)
        #expect(compact == #"{"b":1,"a":[2]}"#)
        // A byte-order mark is left out; JSON in UTF-16 is shown from its value.
        #expect(WebhookSink.Delivery.bodyText(Data([0xEF, 0xBB, 0xBF]) + Data(#"{"bom":1}"#.utf8), pretty: false) == #"{"bom":1}"#)
        let utf16 = try #require(#"{"a":[1]}"#.data(using: .utf16LittleEndian))
        #expect(WebhookSink.Delivery.bodyText(utf16, pretty: false) == #"{"a":[1]}"#)
        let delivery = WebhookSink.Delivery(receivedAt: Date(timeIntervalSince1970: 0), method: "POST", path: "/hook", headers: [("webhook-id", "msg_1")],
                                            body: body, bodySize: body.count, verification: nil, status: 200, firstReceivedAt: nil)
        #expect(!delivery.formatted(pretty: false).contains("\n"), "\(delivery.formatted(pretty: false))")
        #expect(delivery.formatted(pretty: false).hasSuffix(#"  {"ticket_id":"IGP-1","title":"a , b : \"c\" {d} [e]","overdue_days":2.50,"nested":{"z":[1,{}],"a":[]},"x":null}"#))
    }

    /// The header values printed come from the sender as bytes, any from 0x80 up: escaped.
    @Test func headerValuesArePrintedEscaped() {
        let delivery = WebhookSink.Delivery(receivedAt: Date(timeIntervalSince1970: 0), method: "POST", path: "/hook",
                                            headers: [("webhook-id", "a\u{9B}2J\u{9D}0;TITLE\u{9C}z\u{202E}evil"), ("Content-Type", "application/json\u{2028}x")],
                                            body: Data("{}".utf8), bodySize: 2, verification: nil, status: 200, firstReceivedAt: nil)
        let printed = delivery.formatted()
        #expect(printed.contains("webhook-id=a\\u{9B}2J\\u{9D}0;TITLE\\u{9C}z\\u{202E}evil"), "\(printed)")
        #expect(printed.contains("content-type=application/json\\u{2028}x"), "\(printed)")
    }

    /// Indented, a small body nested deep grows without bound (two spaces a level on every
    /// line: 21 KB made 10.5 MB, and 28 s of escaping that held every other request): what
    /// is printed stops at 64 KiB, and says so.
    @Test func aBodyLaidOutIsPrintedUpToALimit() {
        let body = Data((String(repeating: "[", count: 500) + String(repeating: "0,", count: 10_000) + "0" + String(repeating: "]", count: 500)).utf8)
        let printed = WebhookSink.Delivery.bodyText(body, pretty: true)
        #expect(printed.hasSuffix("\n… (cut: the sink prints 64 KiB of a body laid out)"), "\(printed.suffix(200))")
        #expect(printed.utf8.count < 70_000)
        let compact = WebhookSink.Delivery.bodyText(body, pretty: false)
        #expect(compact.hasPrefix(String(repeating: "[", count: 500) + "0,0,"), "the compact layout is within the limit: printed whole")
        #expect(!compact.contains("cut:"))
        let small = WebhookSink.Delivery.bodyText(Data(#"{"a":[1,2]}"#.utf8), pretty: true)
        #expect(!small.contains("cut:"))
    }

    @Test func thePrintedRequestHidesThePathAndQuery() async throws {
        let received = Locked<[WebhookSink.Delivery]>([])
        let sink = try WebhookSink(port: 0, signingSecret: Self.secret) { delivery in received.withLock { $0.append(delivery) } }
        let port = try await sink.start()
        let destination = try Fixtures.destination(url: "http://127.0.0.1:\(port)/hooks/T0KEN-IN-PATH?token=s3cret-query",
                                                   signingSecret: Self.secret)
        let result = await Self.post(Data(#"{"type":"ticket.overdue"}"#.utf8), to: destination)
        await sink.stop()
        #expect(result.httpStatus == 200)
        let delivery = try #require(received.current.first)
        #expect(delivery.path == "/hooks/T0KEN-IN-PATH?token=s3cret-query")
        for text in [delivery.formatted(pretty: true), delivery.formatted(pretty: false)] {
            #expect(!text.contains("T0KEN-IN-PATH") && !text.contains("s3cret-query") && !text.contains("/hooks"), "\(text)")
            #expect(text.contains("POST (path and query hidden) -> 200"), "\(text)")
            #expect(text.contains("webhook-id=msg_large_or_small") && text.contains("signature valid"), "\(text)")
            #expect(text.contains("ticket.overdue"), "the body is printed: \(text)")
        }
    }

    /// The whole body is read and verified, however large a webhook is; beyond the limit the
    /// sender gets a clear 413, not a signature failure.
    @Test func aLargeSignedBodyIsReadWholeAndVerifies() async throws {
        let received = Locked<[WebhookSink.Delivery]>([])
        let sink = try WebhookSink(port: 0, signingSecret: Self.secret) { delivery in received.withLock { $0.append(delivery) } }
        let port = try await sink.start()
        let destination = try Fixtures.destination(url: "http://127.0.0.1:\(port)/", timeout: "20s", signingSecret: Self.secret)
        let large = Data(("{\"text\":\"" + String(repeating: "é0123456789", count: 500_000) + "\"}").utf8)
        #expect(large.count > 5_000_000)
        let result = await Self.post(large, to: destination)
        await sink.stop()
        #expect(result.httpStatus == 200, "\(result)")
        let delivery = try #require(received.current.first)
        #expect(delivery.verification == .valid)
        // Compared as one Bool: on failure, Swift Testing would diff the two 5 MB collections.
        let whole = delivery.body == large
        #expect(whole, "received \(delivery.body.count) of \(large.count) bytes")
    }

    @Test func aBodyOverTheLimitIsAnswered413() async throws {
        let small = Locked<[WebhookSink.Delivery]>([])
        let limited = try WebhookSink(port: 0, signingSecret: Self.secret, bodyLimit: 64 * 1024) { delivery in small.withLock { $0.append(delivery) } }
        let limitedPort = try await limited.start()
        let limitedDestination = try Fixtures.destination(url: "http://127.0.0.1:\(limitedPort)/", timeout: "20s", signingSecret: Self.secret)
        let over = await Self.post(Data(repeating: UInt8(ascii: "x"), count: 200 * 1024), to: limitedDestination)
        let within = await Self.post(Data(#"{"ok":1}"#.utf8), to: limitedDestination)
        await limited.stop()
        #expect(over.httpStatus == 413, "\(over)")
        #expect(over.responseBody?.contains("larger than the sink's limit") == true, "\(over.responseBody ?? "")")
        #expect(within.httpStatus == 200, "a body within the limit is still taken")
        let refused = try #require(small.current.first)
        #expect(refused.status == 413 && refused.bodySize == 200 * 1024 && refused.body.isEmpty)
        #expect(refused.formatted().contains("over the sink's limit"), "\(refused.formatted())")
    }

    /// A webhook sent again (a retry whose first answer was lost) is accepted again and said
    /// to be a repeat, with when the first came; one the sink refused (401) was not received,
    /// so its next try is no repeat.
    @Test func aRepeatedWebhookIDIsShownAsARepeat() async throws {
        let received = Locked<[WebhookSink.Delivery]>([])
        let sink = try WebhookSink(port: 0, signingSecret: Self.secret) { delivery in received.withLock { $0.append(delivery) } }
        let port = try await sink.start()
        let destination = try Fixtures.destination(url: "http://127.0.0.1:\(port)/", signingSecret: Self.secret)
        let wrongKey = try Fixtures.destination(url: "http://127.0.0.1:\(port)/",
                                                signingSecret: "whsec_" + Data("another key of 24 bytes!".utf8).base64EncodedString())
        let body = Data(#"{"ok":1}"#.utf8)
        let first = await Self.post(body, to: destination, id: "msg_repeated")
        let again = await Self.post(body, to: destination, id: "msg_repeated")
        let refused = await Self.post(body, to: wrongKey, id: "msg_refused_first")
        let afterRefusal = await Self.post(body, to: destination, id: "msg_refused_first")
        await sink.stop()
        #expect([first, again, refused, afterRefusal].map(\.httpStatus) == [200, 200, 401, 200])
        let deliveries = received.current
        try #require(deliveries.count == 4)
        #expect(deliveries[0].firstReceivedAt == nil)
        #expect(deliveries[1].firstReceivedAt == deliveries[0].receivedAt)
        let line = deliveries[1].formatted()
        #expect(line.contains("repeat: first received at \(PayloadTimestamp.iso8601(deliveries[0].receivedAt))"), "\(line)")
        #expect(!deliveries[0].formatted().contains("repeat:"))
        #expect(deliveries[2].firstReceivedAt == nil && deliveries[3].firstReceivedAt == nil)
    }

    @Test func theAcceptedIDsAreBounded() {
        var ids = AcceptedIDs()
        let start = Date(timeIntervalSince1970: 0)
        for index in 0..<(AcceptedIDs.capacity + 10) { #expect(ids.note("id\(index)", at: start) == nil) }
        #expect(ids.note("id0", at: start) == nil, "the oldest were forgotten")
        #expect(ids.note("id\(AcceptedIDs.capacity + 9)", at: start) == start)
        // Bounded in bytes too: an id past 256 bytes is not kept (not marked as a repeat).
        let long = String(repeating: "x", count: AcceptedIDs.longestID + 1)
        #expect(ids.note(long, at: start) == nil)
        #expect(ids.note(long, at: start) == nil)
        let longest = String(repeating: "y", count: AcceptedIDs.longestID)
        #expect(ids.note(longest, at: start) == nil)
        #expect(ids.note(longest, at: start) == start)
    }

    static func post(_ body: Data, to destination: DestinationSpec, id: String = "msg_large_or_small") async -> TransportResult {
        let transport = WebhookTransport()
        let request = WebhookRequest(body: body, notificationID: id, timestamp: Date(),
                                     destination: destination, userAgentVersion: "1")
        let result = await transport.post(request, to: destination, onSent: {})
        await transport.shutdown()
        return result
    }

    @Test func withoutSecretEverythingIsAccepted() async throws {
        let received = Locked(0)
        let sink = try WebhookSink(port: 0) { _ in received.withLock { $0 += 1 } }
        let port = try await sink.start()
        let outbox = try Fixtures.outbox()
        let notifier = Notifier(outbox: outbox, destinations: [], userAgentVersion: "1", logger: Logger(label: "test"))
        let result = await notifier.sendTest(destination: try Fixtures.destination(url: "http://127.0.0.1:\(port)/"))
        await notifier.shutdown(grace: .zero)
        await sink.stop()
        #expect(result.httpStatus == 200)
        #expect(received.current == 1)
        #expect(throws: WebhookSink.StartError.self) { try WebhookSink(signingSecret: "nope") { _ in } }
    }
}

/// `send-test` to a template destination (a chat, ntfy) renders its template, with a ticket
/// that says it is a test: the standard test body was refused by such receivers (no `text`,
/// no `topic`), and a working destination reported as broken. Standard destinations still get
/// the `overdued.test` body.
@Suite struct SendTestFormatTests {
    @Test func aTemplateDestinationGetsItsTemplateWithATestTicket() async throws {
        let bodies = Locked<[Data]>([])
        let sink = try WebhookSink(port: 0) { delivery in bodies.withLock { $0.append(delivery.body) } }
        let port = try await sink.start()
        let template = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/examples/ntfy.mustache", encoding: .utf8)
        let ntfy = try Fixtures.destination(name: "ntfy", url: "http://127.0.0.1:\(port)/", format: #"{"template": "ntfy.mustache"}"#,
                                            files: ["ntfy.mustache": template])
        let standard = try Fixtures.destination(url: "http://127.0.0.1:\(port)/")
        let notifier = Notifier(outbox: try Fixtures.outbox(), destinations: [], userAgentVersion: "1", logger: Logger(label: "test"))
        let results = [await notifier.sendTest(destination: ntfy), await notifier.sendTest(destination: standard)]
        await notifier.shutdown(grace: .zero)
        await sink.stop()
        #expect(results.map(\.httpStatus) == [200, 200])
        let received = bodies.current.map { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        #expect(received.count == 2)
        let rendered = try #require(received.first ?? nil)
        #expect(rendered["topic"] as? String == "maintenance-retards")
        #expect((rendered["title"] as? String)?.hasPrefix("Ticket TEST en retard") == true, "\(rendered)")
        #expect((rendered["message"] as? String)?.contains("Test from overdued: not an overdue ticket") == true, "\(rendered)")
        #expect((received.last ?? nil)?["type"] as? String == "overdued.test")
    }
}

/// curl sends `Expect: 100-continue` before a body over 1 KB and waits a second for the
/// interim answer (then sends anyway): the sink answers it at once.
@Suite struct WebhookSinkExpectTests {
    @Test func anExpectationOfContinueIsAnswered() async throws {
        let sink = try WebhookSink(port: 0) { _ in }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let socket = try RawConnection(port: port)
        socket.send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        #expect(socket.receive().hasPrefix("HTTP/1.1 100 Continue\r\n"))
        socket.send("{}")
        #expect(socket.receive().hasPrefix("HTTP/1.1 200 OK\r\n"))
    }
}

/// A TCP connection to 127.0.0.1, with a 10 s limit on each receive.
final class RawConnection {
    let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard socket >= 0, connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socket) }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(socket, $0, strlen($0), 0) }
    }

    /// What one `recv` gives ("" at the end of the stream or after the limit).
    func receive() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(socket, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    /// Reads until the peer closes (true) or the limit passes (false).
    func readsUntilClosed() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 512)
        var count = 1
        while count > 0 { count = recv(socket, &buffer, buffer.count, 0) }
        return count == 0
    }
}

/// A sender that stops inside a request keeps its connection, and what it sent, for ever
/// otherwise (twelve stopped inside 31 MiB bodies held 410 MB): closed once idle that long.
@Suite struct WebhookSinkIdleTests {
    @Test func aConnectionThatSendsNothingForTheIdleTimeoutIsClosed() async throws {
        let sink = try WebhookSink(port: 0, idleTimeout: .milliseconds(300)) { _ in }
        let port = try await sink.start()
        defer { Task { await sink.stop() } }
        let connection = try RawConnection(port: port)
        connection.send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{\"partial\":")
        // Nothing more is sent: the sink closes the connection well before this side's limit
        // of 10 s.
        #expect(connection.readsUntilClosed(), "the connection was not closed")
    }
}
