import Foundation
import Logging
@testable import Notifier
import OverduedConfig
import Store
import TestCertificates
import Testing

/// Deliveries to a real HTTPS receiver on 127.0.0.1 whose certificate no one trusts: the
/// failure reads as an operator's message, never NIOSSL's internals (error codes, a path in
/// the build folder), in the attempt record, the logs and `send-test`; it is retried.
@Suite(.serialized)
struct TLSDeliveryTests {
    static let message = "TLS handshake failed: certificate verify failed"

    /// Text that would show NIOSSL's internals rather than what went wrong.
    static func showsInternals(_ text: String) -> Bool {
        ["NIOSSL", "BoringSSL", "OPENSSL", ".cc", "/", "268435581"].contains { text.contains($0) }
    }

    @Test func anUntrustedCertificateIsAShortMessageAndIsRetried() async throws {
        let server = ScriptedServer([], tls: try SelfSignedCertificate.serverContext())
        try await server.start()
        let outbox = try Fixtures.outbox()
        let destination = try Fixtures.destination(url: server.url)
        let ids = try Fixtures.enqueue(outbox, destination: destination.name)
        let (logger, logs) = Fixtures.capturingLogger()
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9.9.9", logger: logger)
        // Long enough for the first attempt on a loaded machine (none starts after the deadline).
        let result = await notifier.drain(until: Date().addingTimeInterval(2))
        let test = await notifier.sendTest(destination: destination)
        await notifier.shutdown(grace: .milliseconds(100))

        #expect(server.requests.isEmpty, "no request gets through the handshake")
        #expect(result.delivered == 0 && result.dead == 0 && result.retrying == 1, "\(result)")
        let attempts = try outbox.attempts(notificationID: ids[0])
        #expect(!attempts.isEmpty)
        for attempt in attempts {
            let error = attempt.error ?? ""
            #expect(error.hasPrefix(Self.message + "; attempt \(attempt.attempt + 1) in "), "\(error)")
            #expect(!Self.showsInternals(error.replacingOccurrences(of: "backoff up to", with: "")), "\(error)")
        }
        let stored = try #require(try outbox.notification(id: ids[0]))
        #expect(stored.status == .retrying)
        #expect(stored.lastError?.hasPrefix(Self.message) == true, "\(stored.lastError ?? "")")
        #expect(test.error == Self.message)
        let retries = logs.all.filter { $0.metadata["event"] == "retry" }
        #expect(!retries.isEmpty)
        for record in retries {
            #expect(record.message.contains(Self.message), "\(record.message)")
            #expect(!record.message.contains("handshake.cc") && !record.message.contains("NIOSSL"), "\(record.message)")
        }
        await server.stop()
    }
}
