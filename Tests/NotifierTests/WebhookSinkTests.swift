import Foundation
import Logging
@testable import Notifier
import Store
import Testing

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
        #expect(text.contains("POST /hook -> 200"))
        #expect(text.contains(goodResult.notificationID))
        #expect(text.contains("signature valid"))
        #expect(text.contains("\"type\" : \"overdued.test\"") || text.contains("\"type\": \"overdued.test\""), "\(text)")
        #expect(deliveries.last?.verification != .valid)
        #expect(deliveries.last?.formatted().contains("INVALID") == true)
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
