import Foundation
import Notifier
import Testing
import TestSupport

/// `overdued sink` through the real binary: an address it cannot use is refused in plain words.
@Suite struct SinkCommandTests {
    @Test func aPortOutOfRangeIsSaidToBe() throws {
        let result = try runOverdued(["sink", "--listen", "127.0.0.1:99999"], timeout: 20)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("Error: The value '127.0.0.1:99999' is invalid for '--listen <host:port>': the port 99999 is out of range"),
                "\(result.stderr)")
    }

    @Test func aBusyPortIsSaidToBeInUse() async throws {
        let other = try WebhookSink(host: "127.0.0.1", port: 0) { _ in }
        let port = try await other.start()
        defer { Task { await other.stop() } }
        let result = try runOverdued(["sink", "--listen", "127.0.0.1:\(port)"], timeout: 20)
        #expect(result.status == 1)
        #expect(result.stderr == "cannot listen on 127.0.0.1:\(port): address already in use\n", "\(result.stderr)")
    }
}
