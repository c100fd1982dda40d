import Foundation
@testable import Notifier
import OverduedConfig
import Store
import TestCertificates
import Testing

/// A destination's `tls` files: a private authority trusted through `ca_file`, a client
/// certificate for a receiver that asks for one, each against a real HTTPS receiver on
/// 127.0.0.1 whose certificates the test makes; and the config problems of bad files.
@Suite(.serialized)
struct TLSTrustTests {
    static func request(_ destination: DestinationSpec) -> WebhookRequest {
        WebhookRequest(body: Data("{}".utf8), notificationID: "msg_tls", timestamp: Date(),
                       destination: destination, userAgentVersion: "9.9.9")
    }

    static func post(_ destination: DestinationSpec, transport: WebhookTransport = WebhookTransport()) async -> TransportResult {
        let result = await transport.post(request(destination), to: destination, onSent: {})
        await transport.shutdown()
        return result
    }

    @Test func aReceiverOfAPrivateAuthorityIsTrustedThroughCaFile() async throws {
        let authority = try TestAuthority(name: "Plant 4 internal authority")
        let server = ScriptedServer([], tls: try authority.receiverContext())
        try await server.start()
        defer { Task { await server.stop() } }

        let trusting = try Fixtures.destination(url: server.url, tls: ["ca_file": "plant-ca.pem"],
                                                files: ["plant-ca.pem": authority.certificatePEM])
        #expect(trusting.tls?.trustedCertificates?.path.hasSuffix("/plant-ca.pem") == true)
        let delivered = await Self.post(trusting)
        #expect(delivered.httpStatus == 200, "\(delivered.result)")
        #expect(server.requests.count == 1)

        // The system's store does not know the authority; nor does a file naming another.
        let plain = await Self.post(try Fixtures.destination(url: server.url))
        #expect(plain.error == "TLS handshake failed: certificate verify failed", "\(plain.result)")
        let other = try TestAuthority(name: "another authority")
        let wrong = await Self.post(try Fixtures.destination(url: server.url, tls: ["ca_file": "other.pem"],
                                                             files: ["other.pem": other.certificatePEM]))
        #expect(wrong.error == "TLS handshake failed: certificate verify failed", "\(wrong.result)")
        #expect(server.requests.count == 1)
    }

    @Test func aReceiverThatAsksForAClientCertificateGetsTheConfiguredOne() async throws {
        let authority = try TestAuthority()
        let clients = try TestAuthority(name: "client authority")
        let server = ScriptedServer([], tls: try authority.receiverContext(clientsOf: clients))
        try await server.start()
        defer { Task { await server.stop() } }
        let client = try clients.client()
        let folder = try Fixtures.temporaryDirectory()
        let credentials = try Fixtures.temporaryDirectory()
        try Data(client.keyPEM.utf8).write(to: credentials.appendingPathComponent("client-key"))

        // The key is a secret file: relative, it is read from $CREDENTIALS_DIRECTORY.
        let withCertificate = try Fixtures.destination(
            url: server.url,
            tls: ["ca_file": "ca.pem", "certificate_file": "client.pem", "private_key_file": "client-key"],
            files: ["ca.pem": authority.certificatePEM, "client.pem": client.certificatePEM],
            environment: ["CREDENTIALS_DIRECTORY": credentials.path], in: folder)
        #expect(withCertificate.tls?.clientKey?.path == credentials.appendingPathComponent("client-key").path)
        let delivered = await Self.post(withCertificate)
        #expect(delivered.httpStatus == 200, "\(delivered.result)")
        #expect(server.requests.count == 1)

        let without = await Self.post(try Fixtures.destination(url: server.url, tls: ["ca_file": "ca.pem"],
                                                               files: ["ca.pem": authority.certificatePEM]))
        #expect(without.error == "TLS handshake failed: the receiver asks for a client certificate (tls.certificate_file and tls.private_key_file)",
                "\(without.result)")
        let stranger = try TestAuthority(name: "stranger").client()
        let strangerFiles = ["ca.pem": authority.certificatePEM, "client.pem": stranger.certificatePEM, "key.pem": stranger.keyPEM]
        let refused = await Self.post(try Fixtures.destination(
            url: server.url, tls: ["ca_file": "ca.pem", "certificate_file": "client.pem", "private_key_file": "key.pem"], files: strangerFiles))
        #expect(refused.error?.hasPrefix("TLS handshake failed: the receiver refused the client certificate (") == true, "\(refused.result)")
        #expect(server.requests.count == 1, "no request without the client certificate")
    }

    /// A reload that changes a destination's files changes what its next request trusts,
    /// on the same transport (it keeps each destination's TLS configuration).
    @Test func aChangedCaFileIsUsedByTheNextRequest() async throws {
        let first = try TestAuthority(name: "first")
        let second = try TestAuthority(name: "second")
        let server = ScriptedServer([], tls: try second.receiverContext())
        try await server.start()
        defer { Task { await server.stop() } }
        let folder = try Fixtures.temporaryDirectory()
        let transport = WebhookTransport()
        let before = try Fixtures.destination(url: server.url, tls: ["ca_file": "ca.pem"], files: ["ca.pem": first.certificatePEM], in: folder)
        let refused = await transport.post(Self.request(before), to: before, onSent: {})
        let after = try Fixtures.destination(url: server.url, tls: ["ca_file": "ca.pem"], files: ["ca.pem": second.certificatePEM], in: folder)
        let accepted = await transport.post(Self.request(after), to: after, onSent: {})
        await transport.shutdown()
        #expect(refused.error == "TLS handshake failed: certificate verify failed", "\(refused.result)")
        #expect(accepted.httpStatus == 200, "\(accepted.result)")
    }

    // MARK: - config problems

    static func problems(tls: [String: Any], files: [String: String] = [:], derFiles: [String: [UInt8]] = [:],
                         url: String = "https://hooks.example.com/x", environment: [String: String] = [:]) -> String {
        do {
            let folder = try Fixtures.temporaryDirectory()
            for (name, bytes) in derFiles { try Data(bytes).write(to: folder.appendingPathComponent(name)) }
            _ = try Fixtures.destination(url: url, tls: tls, files: files, environment: environment, in: folder)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func badFilesAreRefusedNamingTheKeyAndTheFile() throws {
        let authority = try TestAuthority()
        let client = try authority.client()
        let otherKey = try authority.client().keyPEM

        let notPEM = Self.problems(tls: ["ca_file": "ca.pem"], files: ["ca.pem": "just text\n"])
        #expect(notPEM.contains("destinations.hook.tls.ca_file: ") && notPEM.contains("/ca.pem holds no PEM certificate: expected -----BEGIN CERTIFICATE----- blocks"), "\(notPEM)")

        let keyAsAuthority = Self.problems(tls: ["ca_file": "ca.pem"], files: ["ca.pem": client.keyPEM])
        #expect(keyAsAuthority.contains("destinations.hook.tls.ca_file: ") && keyAsAuthority.contains("holds no PEM certificate"), "\(keyAsAuthority)")
        #expect(!keyAsAuthority.contains(Self.keyBody(client.keyPEM)), "the key's text is never quoted")

        let missing = Self.problems(tls: ["ca_file": "nowhere.pem"])
        #expect(missing.contains("destinations.hook.tls.ca_file: cannot read ") && missing.contains("/nowhere.pem: no such file"), "\(missing)")

        let mismatch = Self.problems(tls: ["certificate_file": "client.pem", "private_key_file": "key.pem"],
                                     files: ["client.pem": client.certificatePEM, "key.pem": otherKey])
        #expect(mismatch.contains("destinations.hook.tls.private_key_file: ") && mismatch.contains("/key.pem is not the key of the certificate in "), "\(mismatch)")
        #expect(!mismatch.contains(Self.keyBody(otherKey)))

        let notAKey = Self.problems(tls: ["certificate_file": "client.pem", "private_key_file": "key.pem"],
                                    files: ["client.pem": client.certificatePEM, "key.pem": client.certificatePEM])
        #expect(notAKey.contains("destinations.hook.tls.private_key_file: ") && notAKey.contains("holds no PEM private key"), "\(notAKey)")

        let alone = Self.problems(tls: ["certificate_file": "client.pem"], files: ["client.pem": client.certificatePEM])
        #expect(alone.contains("destinations.hook.tls.private_key_file: is required with certificate_file"), "\(alone)")
        let keyAlone = Self.problems(tls: ["private_key_file": "key.pem"], files: ["key.pem": client.keyPEM])
        #expect(keyAlone.contains("destinations.hook.tls.certificate_file: is required with private_key_file"), "\(keyAlone)")

        let plainHTTP = Self.problems(tls: ["ca_file": "ca.pem"], files: ["ca.pem": authority.certificatePEM], url: "http://hooks.example.com/x")
        #expect(plainHTTP.contains("destinations.hook.tls: applies to https:// URLs only; this destination's URL is http://"), "\(plainHTTP)")

        // null is absent, as everywhere in the config.
        let nullKey = Self.problems(tls: ["certificate_file": "client.pem", "private_key_file": NSNull()], files: ["client.pem": client.certificatePEM])
        #expect(nullKey.contains("destinations.hook.tls.private_key_file: is required with certificate_file"), "\(nullKey)")
        let nullCA = Self.problems(tls: ["ca_file": NSNull()])
        #expect(nullCA.contains("destinations.hook.tls: names no file"), "\(nullCA)")

        let der = Self.problems(tls: ["ca_file": "ca.der"], files: [:], derFiles: ["ca.der": authority.certificateDER])
        #expect(der.contains("destinations.hook.tls.ca_file: ") && der.contains("/ca.der is not PEM text (a DER file? convert it: openssl x509 -inform der"),
                "\(der)")
        let damaged = authority.certificatePEM + String(client.certificatePEM.dropLast(40)) + "\n-----END CERTIFICATE-----\n"
        let cut = Self.problems(tls: ["ca_file": "ca.pem"], files: ["ca.pem": damaged])
        #expect(cut.contains("/ca.pem holds a certificate block that cannot be read (damaged or cut short)"), "\(cut)")

        let empty = Self.problems(tls: [:])
        #expect(empty.contains("destinations.hook.tls: names no file"), "\(empty)")
        let unknown = Self.problems(tls: ["ca_flie": "ca.pem"])
        #expect(unknown.contains("ca_flie") && unknown.contains("ca_file"), "\(unknown)")
    }

    /// An encrypted key would make BoringSSL prompt for a passphrase on the terminal (and a
    /// daemon hang on its standard input): it is refused with what to do instead.
    @Test func anEncryptedKeyIsRefusedWithoutAPrompt() throws {
        let client = try TestAuthority().client()
        let encrypted = """
            -----BEGIN ENCRYPTED PRIVATE KEY-----
            MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgZJTHhIVp9aQICCAAw
            DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEBvtkAvEL4hN+SImtRKF4P0EgZDR
            kviV04OyiHF6K9+zjtfPm+kvas/Sz+kOGzEEAmXdF65EaeqbNDkf6lT37L1csGNU
            M7cB+jTpJ74IDqFNBFUSJXTklG4Zd2eZcTgK4/dh8Jup7pRzJ5LCAT3Q5pXNqfj2
            9glDhNmqvnOFW1cy+ok4uX0GbMPX1zkCBODtzwraFYsXLiMs3UYxLHOQDTTc7qE=
            -----END ENCRYPTED PRIVATE KEY-----

            """
        let problem = Self.problems(tls: ["certificate_file": "client.pem", "private_key_file": "key.pem"],
                                    files: ["client.pem": client.certificatePEM, "key.pem": encrypted])
        #expect(problem.contains("destinations.hook.tls.private_key_file: ") && problem.contains("is an encrypted key"), "\(problem)")
        #expect(problem.contains("openssl pkey"), "\(problem)")
    }

    /// A bundle that still lists the expired copy of a renewed authority before the new one:
    /// the new one is trusted (BoringSSL takes the first of a name).
    @Test func aRenewedAuthorityListedAfterItsExpiredCopyIsTrusted() async throws {
        let renewed = try TestAuthority(name: "Plant 4 authority", validFor: 365)
        let expired = try TestAuthority(name: "Plant 4 authority", key: renewed.key, validFor: 365, endedAgo: 86_400)
        let server = ScriptedServer([], tls: try renewed.receiverContext())
        try await server.start()
        defer { Task { await server.stop() } }
        let destination = try Fixtures.destination(url: server.url, tls: ["ca_file": "bundle.pem"],
                                                   files: ["bundle.pem": expired.certificatePEM + renewed.certificatePEM])
        let result = await Self.post(destination)
        #expect(result.httpStatus == 200, "\(result.result)")
    }

    /// A receiver limited to TLS 1.2 refuses a missing client certificate during the
    /// handshake, with an alert that names no certificate: the message says what it may mean.
    @Test func aTLS12ReceiverThatWantsAClientCertificateIsExplained() async throws {
        let authority = try TestAuthority()
        let server = ScriptedServer([], tls: try authority.receiverContext(clientsOf: authority, maximumVersion: .tlsv12))
        try await server.start()
        defer { Task { await server.stop() } }
        let result = await Self.post(try Fixtures.destination(url: server.url, tls: ["ca_file": "ca.pem"],
                                                              files: ["ca.pem": authority.certificatePEM]))
        #expect(result.error?.hasPrefix("TLS handshake failed: sslv3 alert handshake failure (the receiver refused the handshake: it may ask for a client certificate") == true,
                "\(result.result)")
        let stranger = try TestAuthority(name: "stranger").client()
        let refused = await Self.post(try Fixtures.destination(
            url: server.url, tls: ["ca_file": "ca.pem", "certificate_file": "client.pem", "private_key_file": "key.pem"],
            files: ["ca.pem": authority.certificatePEM, "client.pem": stranger.certificatePEM, "key.pem": stranger.keyPEM]))
        #expect(refused.error?.hasPrefix("TLS handshake failed: the receiver refused the client certificate (") == true, "\(refused.result)")
    }

    @Test func certificatesNotValidYetAreWarningsNamingThem() throws {
        let future = try TestAuthority(name: "Future authority", validFor: 365, startsIn: 86_400 * 10)
        let destination = try Fixtures.destination(url: "https://hooks.example.com/x", tls: ["ca_file": "ca.pem"],
                                                   files: ["ca.pem": future.certificatePEM])
        let warnings = DestinationTLS.validityWarnings([destination], now: Date())
        #expect(warnings.count == 1 && warnings[0].hasPrefix("destinations.hook.tls.ca_file: the certificate (Future authority) in "), "\(warnings)")
        #expect(warnings.first?.contains(" is not valid before ") == true, "\(warnings)")
    }

    @Test func expiredAndExpiringCertificatesAreWarnings() throws {
        let expired = try TestAuthority(name: "old authority", validFor: 30, endedAgo: 86_400)
        let current = try TestAuthority(name: "current authority", validFor: 365)
        let expiring = try TestAuthority(name: "expiring authority", validFor: 10)
        let bundle = expired.certificatePEM + current.certificatePEM + expiring.certificatePEM
        let destination = try Fixtures.destination(url: "https://hooks.example.com/x", tls: ["ca_file": "ca.pem"],
                                                   files: ["ca.pem": bundle])
        let warnings = DestinationTLS.validityWarnings([destination], now: Date())
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.first?.hasPrefix("destinations.hook.tls.ca_file: certificate 1 of 3 (old authority) in ") == true, "\(warnings)")
        #expect(warnings.first?.contains(" expired on ") == true, "\(warnings)")
        #expect(warnings.last?.hasPrefix("destinations.hook.tls.ca_file: certificate 3 of 3 (expiring authority) in ") == true, "\(warnings)")
        #expect(warnings.last?.contains(" expires on ") == true, "\(warnings)")
        #expect(DestinationTLS.validityWarnings([try Fixtures.destination(url: "https://hooks.example.com/x")], now: Date()).isEmpty)
    }

    /// A line of the key's base64, which no message may hold.
    static func keyBody(_ pem: String) -> String {
        pem.split(separator: "\n").dropFirst().first.map(String.init) ?? pem
    }
}
