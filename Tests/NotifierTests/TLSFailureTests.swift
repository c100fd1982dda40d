import Foundation
@testable import Notifier
import NIOSSL
import TestCertificates
import Testing

/// NIOSSL's errors in an operator's words, and still retried as connection failures.
struct TLSFailureTests {
    @Test func handshakeFailuresKeepTheReasonAlone() throws {
        #expect(TLSFailure.message(NIOSSLError.handshakeFailed(.sslError([.eofDuringHandshake])))
            == "TLS handshake failed: EOF during handshake")
        #expect(TLSFailure.message(NIOSSLError.handshakeFailed(.syscallError)) == "TLS handshake failed: syscall error")
        #expect(TLSFailure.message(NIOSSLError.handshakeFailed(.sslError([]))) == "TLS handshake failed: ssl error")
        #expect(TLSFailure.message(NIOSSLError.uncleanShutdown) == "TLS error: the connection was closed without a TLS close")
        #expect(TLSFailure.message(NIOSSLError.noCertificateToValidate) == "TLS error: no certificate to validate")
        #expect(TLSFailure.message(NIOSSLExtraError.failedToValidateHostname)
            == "TLS handshake failed: the certificate is not valid for the URL's host name")
        #expect(TLSFailure.message(NIOSSLExtraError.invalidSNIHostname) == "TLS error: invalid SNI hostname")
        #expect(TLSFailure.message(CocoaError(.fileNoSuchFile)) == nil, "not a TLS error")
        #expect(TLSFailure.words("cannotUseIPAddressInSNI") == "cannot use IP address in SNI")
    }

    /// The error a real handshake with an untrusted certificate raises, as NIOSSL builds it
    /// (BoringSSL's stack: code, library, function, reason, and the source file and line).
    @Test func aRealHandshakeErrorIsMappedWithoutItsPath() async throws {
        let server = ScriptedServer([], tls: try SelfSignedCertificate.serverContext())
        try await server.start()
        let transport = WebhookTransport()
        let destination = try Fixtures.destination(url: server.url)
        let request = WebhookRequest(body: Data("{}".utf8), notificationID: "msg_tls", timestamp: Date(),
                                     destination: destination, userAgentVersion: "9.9.9")
        let result = await transport.post(request, to: destination, onSent: {})
        await transport.shutdown()
        await server.stop()
        guard case .failure(let failure) = result.result else {
            Issue.record("expected a TLS failure, got \(result.result)")
            return
        }
        #expect(failure == TransportFailure(.connection, "TLS handshake failed: certificate verify failed"))
        let raw = NIOSSLError.handshakeFailed(.sslError([]))
        #expect(WebhookTransport.failure(raw, timeout: .seconds(2), destination: destination).kind == .connection)
    }
}
