import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Notifier
import OverduedConfig
import Testing

/// The HTTP edge on its own: which connection a request goes on, and how failures are told.
struct WebhookTransportTests {
    /// A connection is not reused once it has been idle longer than 900 ms, under the shortest
    /// keep-alive receivers commonly have (gunicorn 2 s): a request on a connection the receiver
    /// closes at that instant would fail without reaching it.
    @Test func aConnectionIdleForASecondIsNotReused() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let destination = try Fixtures.destination(url: server.url)
        let transport = WebhookTransport()
        var idle: [Duration] = []
        for pause in [Duration.milliseconds(100), .milliseconds(1_500)] {
            let result = await transport.post(Self.request(destination), to: destination, onSent: {})
            #expect(result.httpStatus == 200)
            let finished = ContinuousClock.now
            try await Task.sleep(for: pause)
            idle.append(ContinuousClock.now - finished)
        }
        let last = await transport.post(Self.request(destination), to: destination, onSent: {})
        #expect(last.httpStatus == 200)
        await transport.shutdown()
        let connections = server.requests.map(\.connection)
        #expect(connections.count == 3)
        guard connections.count == 3 else { return }
        // Reuse after the short pause is likely but not certain (on a loaded machine the
        // connection may not be back in the pool yet): only the long pause's outcome is certain.
        #expect(connections[1] != connections[2], "a new connection after \(idle[1]) idle: \(connections)")
        await server.stop()
    }

    /// A reload that changes a destination's timeout or proxy needs another HTTP client; the
    /// one it used is shut down, so a daemon reloaded for years keeps only the clients its
    /// current destinations use.
    @Test func aClientNoDestinationUsesAnyMoreIsShutDown() async throws {
        let server = ScriptedServer([])
        try await server.start()
        let before = try Fixtures.destination(url: server.url, timeout: "2s")
        let after = try Fixtures.destination(url: server.url, timeout: "3s")
        let transport = WebhookTransport()
        transport.use(destinations: [before])
        #expect(await transport.post(Self.request(before), to: before, onSent: {}).httpStatus == 200)
        #expect(transport.openClientCount == 1)

        transport.use(destinations: [after])
        #expect(transport.openClientCount == 0, "the 2 s client is closed at the reload")
        #expect(await transport.post(Self.request(after), to: after, onSent: {}).httpStatus == 200)
        #expect(transport.openClientCount == 1)
        // A request that still carries the old settings (a worker read it just before the
        // reload) gets a client of its own, closed when it ends.
        #expect(await transport.post(Self.request(before), to: before, onSent: {}).httpStatus == 200)
        #expect(transport.openClientCount == 1)
        await transport.shutdown()
        #expect(server.requests.count == 3)
        await server.stop()
    }

    /// The client is not shut down under a request in flight: that request is answered.
    @Test func aClientIsShutDownOnlyAfterItsLastRequest() async throws {
        let server = ScriptedServer([.slow(.milliseconds(400))])
        try await server.start()
        let destination = try Fixtures.destination(url: server.url, timeout: "2s")
        let transport = WebhookTransport()
        transport.use(destinations: [destination])
        let inFlight = Task { await transport.post(Self.request(destination), to: destination, onSent: {}) }
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requests.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        transport.use(destinations: [])
        #expect(transport.openClientCount == 1, "kept while its request is in flight")
        let result = await inFlight.value
        #expect(result.httpStatus == 200, "\(result.result)")
        #expect(transport.openClientCount == 0)
        await transport.shutdown()
        await server.stop()
    }

    static func request(_ destination: DestinationSpec) -> WebhookRequest {
        WebhookRequest(body: Data("{}".utf8), notificationID: "n", timestamp: Date(), destination: destination, userAgentVersion: "9.9.9")
    }

    /// Which failures are told as a closed connection (reset, closed before a response or before
    /// the request was sent) rather than a refusal or a timeout.
    @Test func onlyAClosedConnectionCountsAsClosed() {
        #expect(WebhookTransport.isClosedConnection(ChannelError.ioOnClosedChannel))
        #expect(WebhookTransport.isClosedConnection(HTTPClientError.remoteConnectionClosed))
        #expect(WebhookTransport.isClosedConnection(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(!WebhookTransport.isClosedConnection(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(!WebhookTransport.isClosedConnection(HTTPClientError.deadlineExceeded))
        #expect(!WebhookTransport.isClosedConnection(HTTPParserError.invalidConstant))
    }

    @Test func failuresAreToldInTheOperatorsWords() throws {
        let destination = try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token?key=abc")
        func message(_ error: any Error, written: Bool = true) -> String {
            WebhookTransport.failure(error, timeout: .seconds(1), destination: destination, requestWritten: written).message
        }
        #expect(message(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == "cannot connect to http://127.0.0.1:9: Connection refused")
        #expect(message(IOError(errnoCode: ECONNRESET, reason: "read")) == "the connection was reset before a response")
        #expect(message(ChannelError.ioOnClosedChannel, written: false) == "the connection was closed before the request was sent")
        #expect(message(HTTPClientError.remoteConnectionClosed) == "the connection was closed before a response")
        #expect(message(HTTPParserError.invalidConstant).hasPrefix("the answer is not HTTP/1.1 ("))
        #expect(message(HTTPParserError.headerOverflow).hasPrefix("the answer's header is too large"))
        for text in [message(IOError(errnoCode: ECONNRESET, reason: "read")), message(HTTPParserError.invalidConstant)] {
            #expect(!text.contains("secret-token") && !text.contains("key=abc"))
        }
    }

    /// A receiver that echoes the request (httpbin, request inspectors) hands back the URL's
    /// path and query and the header values: the recorded body holds none of them.
    @Test func anEchoedRequestLeavesNoSecretInTheRecordedBody() async throws {
        let server = ScriptedServer(tls: nil) { _, request in
            .status(200, body: "POST \(request.path)\n" + request.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
        }
        try await server.start()
        let destination = try Fixtures.destination(url: server.url, headers: ["Authorization": "Bearer TOKSECRET123", "X-Short": "abc"])
        let transport = WebhookTransport()
        let result = await transport.post(Self.request(destination), to: destination, onSent: {})
        await transport.shutdown()
        let body = try #require(result.responseBody)
        #expect(body.contains("POST <path>?<query>"), "\(body)")
        #expect(body.contains("Authorization: <authorization>"), "\(body)")
        #expect(!body.contains("secret-token") && !body.contains("key=abc") && !body.contains("TOKSECRET123"), "\(body)")
        await server.stop()
    }

    /// Echoing receivers hand the URL back in other shapes than it was sent: httpbin parses
    /// the query into values and decodes the path; PHP's `json_encode` escapes slashes; a
    /// request inspector may show a token segment alone, or the decoded password.
    @Test func anEchoInAnotherShapeLeavesNoSecretInTheRecordedBody() throws {
        let destination = try Fixtures.destination(
            url: "http://robot:s3cr%40etPW@127.0.0.1:9/services/T000/B000/XXXX%53ECRET4?token=QSECRET4&x=1&note=a+b+secret&ok=true",
            headers: ["X-Api-Key": "key/with/SLASHES", "X-Auth": #"Token token="abcdef123456", realm="x""#,
                      "Cookie": "session=abc123XYZ789; csrftoken=Zq81kL0pPq"])
        let echoes = [
            #"{"args": {"token": "QSECRET4", "x": "1", "note": "a b secret", "ok": "true"}, "path": "/services/T000/B000/XXXXSECRET4", "json": true}"#,
            #"{"error":"bad","url":"http:\/\/h\/services\/T000\/B000\/XXXX%53ECRET4"}"#,
            #"unknown webhook XXXXSECRET4; basic auth robot:s3cr@etPW; key key\/with\/SLASHES"#,
            #"{"headers": {"X-Auth": "Token token=\"abcdef123456\", realm=\"x\""}, "token": "abcdef123456", "error": "no such services"}"#,
            #"{"cookies": {"session": "abc123XYZ789", "csrftoken": "Zq81kL0pPq"}}"#,
        ]
        let kept = echoes.map { WebhookTransport.keptBody(Data($0.utf8), destination: destination) }
        for (echo, body) in zip(echoes, kept) {
            for secret in ["SECRET4", "s3cr", "etPW", "SLASHES", "a b secret", "abcdef123456", "abc123XYZ789", "Zq81kL0pPq"] {
                #expect(!body.contains(secret), "\(echo) → \(body)")
            }
        }
        // A short value (`true`) is not looked for alone: it would blot out ordinary words.
        #expect(kept[0] == #"{"args": {"token": "<query>", "x": "1", "note": "<query>", "ok": "true"}, "path": "<path>", "json": true}"#)
        #expect(kept[1] == #"{"error":"bad","url":"http:\/\/h<path>"}"#)
        #expect(kept[2] == "unknown webhook <path>; basic auth robot:<password>; key <x-api-key>")
        // A JSON echo escapes the quotes of a header value; its token is looked for alone too; a
        // plain word of the path (`services`) is not a secret, and stays.
        #expect(kept[3] == #"{"headers": {"X-Auth": "<x-auth>"}, "token": "<x-auth>", "error": "no such services"}"#)
        // A cookie's values, echoed parsed.
        #expect(kept[4] == #"{"cookies": {"session": "<cookie>", "csrftoken": "<cookie>"}}"#)
    }

    /// `Retry-After` is sent once: two that disagree are unreadable (the backoff applies), not
    /// whichever came first; the same value twice is that value.
    @Test(arguments: [(["3", "3600"], nil as TimeInterval?), (["3600", "3"], nil), (["120", " 120"], 120), (["60"], 60)])
    func severalRetryAfterFieldsThatDisagreeAreUnreadable(values: [String], delay: TimeInterval?) async throws {
        let server = ScriptedServer([.status(503, headers: values.map { ("Retry-After", $0) })])
        try await server.start()
        let destination = try Fixtures.destination(url: server.url)
        let transport = WebhookTransport()
        let result = await transport.post(Self.request(destination), to: destination, onSent: {})
        await transport.shutdown()
        await server.stop()
        guard case .response(let status, let retryAfter) = result.result else {
            Issue.record("no answer: \(result.result)")
            return
        }
        #expect(status == 503)
        #expect(retryAfter.flatMap { RetryAfter.delay($0, now: Date()) } == delay, "\(retryAfter ?? "nil")")
    }

    /// A receiver that puts the URL it was called at into another URL (a login page's
    /// `?next=…`, an error page's link) percent-encodes every `/`, `=`, `&`, `+` and `%` of it,
    /// in either case of hex digits, sometimes twice: none of those forms keeps a secret.
    @Test func aURLEchoedPercentEncodedWholeLeavesNoSecret() throws {
        let destination = try Fixtures.destination(url: "http://127.0.0.1:9/in/LEAKMEp%41th%2Fsec1/hooks?tok=LEAKME%2Bqv22&x=LEAKMEq2+plus33")
        let target = "/in/LEAKMEpAth/sec1/hooks?tok=LEAKME+qv22&x=LEAKMEq2+plus33"   // the target, percent-decoded
        let once = WebhookTransport.percentEncodedWhole(target)
        let echoes = [
            "login first: /login?next=" + once,
            "login first: /login?next=" + once.lowercased(),
            "login first: /login?next=" + WebhookTransport.percentEncodedWhole(once),
            "segment " + WebhookTransport.percentEncodedWhole("LEAKMEpAth/sec1"),
            "login first: /accounts/login/?next=" + WebhookTransport.percentEncodedWhole(target, keepingSlashes: true),
        ]
        for echo in echoes {
            let kept = WebhookTransport.keptBody(Data(echo.utf8), destination: destination)
            #expect(!kept.uppercased().contains("LEAKME"), "\(echo) → \(kept)")
        }
        #expect(once == "%2Fin%2FLEAKMEpAth%2Fsec1%2Fhooks%3Ftok%3DLEAKME%2Bqv22%26x%3DLEAKMEq2%2Bplus33")
        // Django's `?next=` keeps the slashes: a token holding `/` and `+` comes back half encoded.
        let slashed = try Fixtures.destination(url: "http://127.0.0.1:9/h?tok=LEAKab%2Fcd%2Bef12")
        let kept = WebhookTransport.keptBody(Data("login first: /accounts/login/?next=/h%3Ftok%3DLEAKab/cd%252Bef12 or tok=LEAKab/cd%2Bef12".utf8), destination: slashed)
        #expect(!kept.contains("LEAK"), "\(kept)")
    }

    /// Three echoes the sink fuzzing found kept: JSON written ASCII-only (`\u00e9`: Python's
    /// `json.dumps`, Flask's, Django's) of secrets with non-ASCII characters; a bearer token whose
    /// `=` split it into parts too short to be looked for; and an answer cut at the collect
    /// limit inside a secret, after replacements had shrunk the text by more than the margin.
    @Test func asciiOnlyJSONASplitBearerTokenAndACutAnswerLeaveNoSecret() throws {
        let destination = try Fixtures.destination(
            url: "http://127.0.0.1:9/hooks/t%C3%B6k%C3%A9nSECRETxyz?tok=Q%C3%A9SECRET99",
            headers: ["X-Api-Key": "Ünï-KEYSECRET77", "Authorization": "Bearer r=G7pN7w"])
        let echo = #"{"path": "/hooks/tökénSECRETxyz", "args": {"tok": "QéSECRET99"}, "#
            + #""headers": {"X-Api-Key": "Ünï-KEYSECRET77", "Authorization": "Bearer r=G7pN7w"}, "token": "r=G7pN7w"}"#
        let kept = WebhookTransport.keptBody(Data(echo.utf8), destination: destination)
        for secret in ["SECRETxyz", "SECRET99", "KEYSECRET77", "G7pN7w"] {
            #expect(!kept.contains(secret), "\(kept)")
        }
        #expect(WebhookTransport.asciiEscaped("é😀a", uppercase: false) == #"\u00e9\ud83d\ude00a"#)
        // Only an authorization's words are credentials: another header's are ordinary text.
        let plain = try Fixtures.destination(url: "http://127.0.0.1:9/hooks",
                                             headers: ["X-Source": "overdued production plant", "Accept": "application/json, charset=utf-8"])
        let answer = #"{"status": "accepted in production", "note": "charset=utf-8 used"}"#
        #expect(WebhookTransport.keptBody(Data(answer.utf8), destination: plain) == answer)
        let scheme = try Fixtures.destination(url: "http://127.0.0.1:9/hooks", headers: ["X-Auth": "Token r=G7pN7w"])
        #expect(WebhookTransport.keptBody(Data(#"{"token": "r=G7pN7w"}"#.utf8), destination: scheme) == #"{"token": "<x-auth>"}"#)
        // 200 echoes of a 70-character path token, then more: the collect limit cuts inside one.
        let token = String(repeating: "TOKENPART", count: 7) + "1234567"
        let long = try Fixtures.destination(url: "http://127.0.0.1:9/h/" + token)
        let body = Data((String(repeating: token + " ", count: 200)).utf8).prefix(WebhookTransport.collectLimit)
        let cut = WebhookTransport.keptBody(body, destination: long)
        #expect(!cut.contains("TOKENPART"), "\(cut.suffix(120))")
        #expect(cut.hasPrefix("<path> <path> "))
    }

    /// The forms of a destination's secrets are worked out once per URL and headers: a header
    /// value changed by a reload (same URL) is looked for as it is now, not as it was.
    @Test func aChangedHeaderSecretIsLookedForAsItIsNow() throws {
        let url = "http://127.0.0.1:9/hooks"
        let before = try Fixtures.destination(url: url, headers: ["X-Api-Key": "OLDSECRET1234"])
        let after = try Fixtures.destination(url: url, headers: ["X-Api-Key": "NEWSECRET5678"])
        let echo = Data("keys OLDSECRET1234 NEWSECRET5678".utf8)
        #expect(WebhookTransport.keptBody(echo, destination: before) == "keys <x-api-key> NEWSECRET5678")
        #expect(WebhookTransport.keptBody(echo, destination: after) == "keys OLDSECRET1234 <x-api-key>")
        #expect(WebhookTransport.keptBody(echo, destination: before) == "keys <x-api-key> NEWSECRET5678")
    }

    /// A long lowercase name in the URL is a secret as often as not (an ntfy topic is the
    /// topic's only key; a path made of words): looked for alone, while short words stay.
    @Test func aLongLowercaseSegmentIsLookedForAloneAShortWordIsNot() throws {
        let destination = try Fixtures.destination(url: "http://127.0.0.1:9/services/plant-maintenance-overdue-alerts?topic=lowercasequerysecret")
        let echo = #"{"topic": "plant-maintenance-overdue-alerts", "q": "lowercasequerysecret", "error": "no such services"}"#
        let kept = WebhookTransport.keptBody(Data(echo.utf8), destination: destination)
        #expect(kept == #"{"topic": "<path>", "q": "<query>", "error": "no such services"}"#, "\(kept)")
    }

    @Test func aResponseIsPrintedOnOneLineWithoutTerminalEscapes() {
        let result = TestResult(notificationID: "n", httpStatus: 200, latency: .zero, error: nil,
                                responseBody: "ok\n\u{1B}[2J\u{1B}]0;title\u{07}\tdone\u{85}é")
        #expect(result.printableResponse(limit: 200) == "ok\\n\\u{1B}[2J\\u{1B}]0;title\\u{7}\\tdone\\u{85}é")
        #expect(result.printableResponse(limit: 2) == "ok")
    }

    /// A secret that the recorded KB would cut in two is replaced whole before the cut: no
    /// first part of it is kept.
    @Test func aSecretAtTheRecordedBodysEndIsNotKeptInPart() async throws {
        let secret = "SUPERSECRETTOKEN0123456789abcdef"
        let server = ScriptedServer(tls: nil) { _, _ in .status(500, body: String(repeating: "A", count: 1000) + "key=" + secret + " and more") }
        try await server.start()
        let destination = try Fixtures.destination(url: server.url, headers: ["X-Api-Key": secret])
        let transport = WebhookTransport()
        let result = await transport.post(Self.request(destination), to: destination, onSent: {})
        await transport.shutdown()
        let body = try #require(result.responseBody)
        #expect(body.utf8.count <= WebhookTransport.bodyLimit)
        #expect(!body.contains("SUPERSECRET"), "\(body.suffix(40))")
        #expect(body.contains("key=<x-api-key>"), "\(body.suffix(40))")
        await server.stop()
    }
}
