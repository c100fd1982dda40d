import Foundation
import NIOSSL

/// A certificate for 127.0.0.1 that signs itself, made by the `openssl` command when a test
/// asks for it: no client trusts it, so a handshake with it fails the way a receiver with a
/// broken or private certificate makes it fail.
enum SelfSignedCertificate {
    static let openssl = "/usr/bin/openssl"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: openssl) }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// A server context holding a new key and certificate.
    static func serverContext() throws -> NIOSSLContext {
        let directory = try Fixtures.temporaryDirectory()
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("certificate.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=127.0.0.1",
                             "-addext", "subjectAltName=IP:127.0.0.1"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let said = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl req failed: " + String(decoding: said, as: UTF8.self))
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }
}
