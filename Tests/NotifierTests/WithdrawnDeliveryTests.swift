import Foundation
@testable import Notifier
import OverduedConfig
import Store
import Testing

/// A notification the notifier read from the queue a while ago (spaced by `min_interval`)
/// is looked up again when its turn comes: one that a scan withdrew meanwhile, in this
/// process or another, is not sent.
@Suite(.serialized)
struct WithdrawnDeliveryTests {
    @Test func aNotificationWithdrawnWhileItWaitedForItsTurnIsNotSent() async throws {
        let server = ScriptedServer([])
        try await server.start()
        defer { Task { await server.stop() } }
        let outbox = try Fixtures.outbox()
        // 2 s: the withdrawal below must land before the second one's turn, on a loaded machine too.
        let destination = try Fixtures.destination(url: server.url, minInterval: "2s")
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 4)
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9.9.9", logger: Fixtures.capturingLogger().0)
        let drain = Task { await notifier.drain(until: Date().addingTimeInterval(7)) }
        // The first is sent at once, the other three wait their turn, read ahead.
        let deadline = Date().addingTimeInterval(5)
        while server.requests.isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try outbox.withdraw(Array(ids.dropFirst()), at: Date(), reason: "withdrawn: test").count == 3)
        let result = await drain.value
        await notifier.shutdown(grace: .milliseconds(100))

        #expect(server.requests.count == 1, "\(server.requests.map { $0.header("webhook-id") ?? "" })")
        #expect(result.delivered == 1)
        for id in ids.dropFirst() {
            #expect(try outbox.notification(id: id)?.status == .withdrawn)
        }
    }

    /// The queue of a rule held (a reload removed or changed it, and no tick has weighed it
    /// yet) is not sent, not even what was read ahead before the hold; once released, it is.
    @Test func aHeldRulesQueueWaitsUntilItIsReleased() async throws {
        let server = ScriptedServer([])
        try await server.start()
        defer { Task { await server.stop() } }
        let outbox = try Fixtures.outbox()
        // 2 s: the hold below must land before the second one's turn, on a loaded machine too.
        let destination = try Fixtures.destination(url: server.url, minInterval: "2s")
        let ids = try Fixtures.enqueue(outbox, destination: destination.name, count: 3)
        let notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9.9.9", logger: Fixtures.capturingLogger().0)
        let drain = Task { await notifier.drain(until: Date().addingTimeInterval(4)) }
        let deadline = Date().addingTimeInterval(5)
        while server.requests.isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        notifier.hold(rules: ["late"])
        _ = await drain.value
        #expect(server.requests.count == 1, "the two read ahead wait: \(server.requests.map { $0.header("webhook-id") ?? "" })")
        #expect(try outbox.notification(id: ids[2])?.status == .pending)

        notifier.hold(rules: [])
        let released = await notifier.drain(until: Date().addingTimeInterval(8))
        await notifier.shutdown(grace: .milliseconds(100))
        #expect(released.delivered == 2)
        #expect(server.requests.compactMap { $0.header("webhook-id") } == ids)
    }
}
