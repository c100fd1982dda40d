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

    /// A signing secret file it cannot use is named, with why, in plain words (not
    /// Foundation's "The operation could not be completed").
    @Test func aSigningSecretFileItCannotUseIsNamed() throws {
        let folder = try TemporaryDirectory()
        let wrong = try folder.write("secret", "not a secret\n")
        let cases = [(folder.url("missing"), "cannot read --signing-secret-file \(folder.url("missing")): no such file"),
                     (folder.path, "cannot read --signing-secret-file \(folder.path): it is a directory, not a file"),
                     (wrong, "--signing-secret-file \(wrong): the signing secret is not \"whsec_\" followed by base64")]
        for (file, message) in cases {
            let result = try runOverdued(["sink", "--listen", "127.0.0.1:0", "--signing-secret-file", file], timeout: 20)
            #expect(result.status == 1 && result.stderr == message + "\n", "\(result.stderr)")
        }
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
