import AsyncHTTPClient
import Foundation
@testable import Notifier
import OverduedConfig
import Store
import TestCertificates
import Testing
import TestSupport

/// `proxy_url`: requests go through an HTTP proxy on 127.0.0.1 that the test runs, in a
/// CONNECT tunnel (so TLS to the receiver stays end to end); the proxy's refusals and its
/// absence read as the proxy's, and its password is never shown.
@Suite(.serialized)
struct ProxyTests {
    static func post(_ destination: DestinationSpec) async -> TransportResult {
        let transport = WebhookTransport()
        let request = WebhookRequest(body: Data("{}".utf8), notificationID: "msg_proxy", timestamp: Date(),
                                     destination: destination, userAgentVersion: "9.9.9")
        let result = await transport.post(request, to: destination, onSent: {})
        await transport.shutdown()
        return result
    }

    @Test func requestsGoThroughTheProxyInATunnel() async throws {
        let server = ScriptedServer([])
        try await server.start()
        defer { Task { await server.stop() } }
        let proxy = try TunnelProxy()
        defer { proxy.stop() }

        let destination = try Fixtures.destination(url: server.url, extra: ["proxy_url": "http://127.0.0.1:\(proxy.port)"])
        #expect(destination.proxy?.redacted == "http://127.0.0.1:\(proxy.port)")
        let result = await Self.post(destination)
        #expect(result.httpStatus == 200, "\(result.result)")
        #expect(proxy.connects.map(\.target) == ["127.0.0.1:\(server.port)"])
        #expect(server.requests.count == 1)
        #expect(server.requests.first?.path == "/hooks/secret-token?key=abc", "the receiver gets the request, not the proxy")
    }

    @Test func tlsToTheReceiverGoesThroughTheTunnel() async throws {
        let authority = try TestAuthority()
        let server = ScriptedServer([], tls: try authority.receiverContext())
        try await server.start()
        defer { Task { await server.stop() } }
        let proxy = try TunnelProxy()
        defer { proxy.stop() }

        let destination = try Fixtures.destination(url: server.url, tls: ["ca_file": "ca.pem"],
                                                   extra: ["proxy_url": "http://127.0.0.1:\(proxy.port)"],
                                                   files: ["ca.pem": authority.certificatePEM])
        let result = await Self.post(destination)
        #expect(result.httpStatus == 200, "\(result.result)")
        #expect(proxy.connects.map(\.target) == ["127.0.0.1:\(server.port)"])
        #expect(server.requests.count == 1)
    }

    @Test func theProxyPasswordIsSentToTheProxyOnly() async throws {
        let server = ScriptedServer([])
        try await server.start()
        defer { Task { await server.stop() } }
        let proxy = try TunnelProxy { $0.authorization == nil ? 407 : 200 }
        defer { proxy.stop() }

        let credentials = try Fixtures.temporaryDirectory()
        try Data("http://robot:s3cret@127.0.0.1:\(proxy.port)\n".utf8).write(to: credentials.appendingPathComponent("proxy-url"))
        let destination = try Fixtures.destination(url: server.url, extra: ["proxy_url_file": "proxy-url"],
                                                   environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        #expect(destination.proxy?.redacted == "http://127.0.0.1:\(proxy.port)", "no user or password in what is shown")
        let result = await Self.post(destination)
        #expect(result.httpStatus == 200, "\(result.result)")
        #expect(proxy.connects.last?.authorization == "Basic " + Data("robot:s3cret".utf8).base64EncodedString())
        #expect(server.requests.first?.header("Proxy-Authorization") == nil)

        let without = await Self.post(try Fixtures.destination(url: server.url, extra: ["proxy_url": "http://127.0.0.1:\(proxy.port)"]))
        #expect(without.error == "the proxy http://127.0.0.1:\(proxy.port) asks for credentials (407): give them in the proxy URL, http://user:password@host:port",
                "\(without.result)")
    }

    @Test func refusalsAndAnAbsentProxyAreTheProxys() async throws {
        let refusing = try TunnelProxy { _ in 403 }
        defer { refusing.stop() }
        let refused = await Self.post(try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token",
                                                               extra: ["proxy_url": "http://127.0.0.1:\(refusing.port)"]))
        #expect(refused.error?.hasPrefix("the proxy http://127.0.0.1:\(refusing.port) refused to open a tunnel to http://127.0.0.1:9 (its answer to CONNECT was not 200: ") == true,
                "\(refused.result)")
        if case .failure(let failure) = refused.result {
            #expect(failure.kind == .connection, "a proxy's refusal is retried like a connection error")
        }

        // A port nothing listens on: the proxy is named, not the destination.
        let closed = try RefusedPort()
        let closedPort = closed.port
        let absent = await Self.post(try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token",
                                                              extra: ["proxy_url": "http://127.0.0.1:\(closedPort)"]))
        #expect(absent.error == "cannot connect to the proxy http://127.0.0.1:\(closedPort): Connection refused", "\(absent.result)")
        withExtendedLifetime(closed) {}
    }

    /// A proxy (or receiver) that accepts the connection and then stalls holds it no longer
    /// than the destination's timeout, and never more than 5 s (a stop waits for it), and its
    /// silence is named as the proxy's.
    @Test func aStalledConnectionIsBoundedAndNamed() throws {
        let proxy = "http://127.0.0.1:3128"
        let short = try Fixtures.destination(url: "https://hooks.example.com/x", timeout: "1s", extra: ["proxy_url": proxy])
        let long = try Fixtures.destination(url: "https://hooks.example.com/x", timeout: "30s", extra: ["proxy_url": proxy])
        #expect(WebhookTransport.connectLimit(short) == 1_000)
        #expect(WebhookTransport.connectLimit(long) == 5_000)
        #expect(WebhookTransport.failure(HTTPClientError.httpProxyHandshakeTimeout, timeout: .seconds(30), destination: long)
            == TransportFailure(.timeout, "the proxy http://127.0.0.1:3128 did not answer CONNECT in time"))
        #expect(WebhookTransport.failure(HTTPClientError.connectTimeout, timeout: .seconds(30), destination: long)
            == TransportFailure(.timeout, "could not connect to the proxy http://127.0.0.1:3128 in time"))
    }

    static func problem(_ extra: [String: String]) -> String {
        do {
            _ = try Fixtures.destination(url: "https://hooks.example.com/x", extra: extra)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func badProxyURLsAreRefusedWithoutQuotingThem() {
        #expect(Self.problem(["proxy_url": "http://proxy.example.com"]).contains("destinations.hook.proxy_url: names no port: give the proxy's port"))
        #expect(Self.problem(["proxy_url": "https://proxy.example.com:3128"]).contains("destinations.hook.proxy_url: is not an http:// proxy URL with a host"))
        #expect(Self.problem(["proxy_url": "socks5://proxy.example.com:1080"]).contains("SOCKS proxies are not supported"))
        #expect(Self.problem(["proxy_url": "http://proxy.example.com:3128/path"]).contains("destinations.hook.proxy_url: has a path, query or fragment"))
        #expect(Self.problem(["proxy_url": "http://proxy.example.com:99999"]).contains("has port 99999"))
        let both = Self.problem(["proxy_url": "http://p:1", "proxy_url_file": "proxy-url"])
        #expect(both.contains("destinations.hook.proxy_url_file: give either proxy_url or proxy_url_file, not both"), "\(both)")
        #expect(Self.problem(["proxy_url": "http://proxy.example.com:99999999999999999999"]).contains("has a port that is not a number between 1 and 65535"))
        #expect(Self.problem(["proxy_url": "http://::1:3128"]).contains("holds an IPv6 address without brackets: write it as http://[::1]:3128"))
        #expect(Self.problem(["proxy_url": "http://[::1]"]).contains("names no port"))
        #expect(Self.problem(["proxy_url": "http://u:p@proxy.example.com"]).contains("names no port"))
        #expect(Self.problem(["proxy_url": " http://proxy.example.com:3128 "]).isEmpty, "spaces around it are trimmed")
        let broken = Self.problem(["proxy_url": "http://robot:s3c\nret@proxy.example.com:3128"])
        #expect(broken.contains("destinations.hook.proxy_url: holds a line break") && !broken.contains("s3c"), "\(broken)")
        let secret = Self.problem(["proxy_url": "http://robot:s3cret@proxy.example.com/"])
        #expect(secret.contains("names no port") && !secret.contains("s3cret") && !secret.contains("robot"), "\(secret)")
    }
}
