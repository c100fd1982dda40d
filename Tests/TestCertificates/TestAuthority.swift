public import Crypto
import Foundation
public import NIOSSL
public import X509
import SwiftASN1

/// Certificates made in the test, with swift-certificates: an authority, certificates it
/// issues for 127.0.0.1 (a receiver) and for a client, and their PEM files. Nothing outside
/// the test trusts them, so a handshake with one fails unless the destination's `tls` names
/// the authority, the way a receiver with a private or self-signed certificate behaves.
public struct TestAuthority {
    public let key: P256.Signing.PrivateKey
    public let name: DistinguishedName
    public let certificate: Certificate

    /// - Parameters:
    ///   - key: the authority's key; give another authority's to make its renewed (or
    ///     expired) copy, which signs the same certificates.
    ///   - endedAgo: seconds since it expired (nil: valid now); `startsIn`: seconds until it
    ///     becomes valid.
    public init(name commonName: String = "overdued test authority", key: P256.Signing.PrivateKey = .init(), validFor days: Double = 2,
                endedAgo: Double? = nil, startsIn: Double? = nil) throws {
        self.key = key
        name = try DistinguishedName { CommonName(commonName) }
        var (start, end) = TestAuthority.validity(days: days, endedAgo: endedAgo)
        if let startsIn {
            start = Date().addingTimeInterval(startsIn)
            end = start.addingTimeInterval(days * 86_400)
        }
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: start, notValidAfter: end, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    static func validity(days: Double, endedAgo: Double?) -> (Date, Date) {
        if let endedAgo {
            let end = Date().addingTimeInterval(-endedAgo)
            return (end.addingTimeInterval(-days * 86_400), end)
        }
        return (Date().addingTimeInterval(-3_600), Date().addingTimeInterval(days * 86_400))
    }

    /// A certificate this authority issues, with its key.
    public struct Issued {
        public let key: P256.Signing.PrivateKey
        public let certificate: Certificate

        public var certificatePEM: String { ((try? certificate.serializeAsPEM().pemString) ?? "") + "\n" }
    /// The certificate as DER (binary), as some authorities hand theirs out.
    public var certificateDER: [UInt8] { (try? certificate.serializeAsPEM().derBytes) ?? [] }
        public var keyPEM: String { key.pemRepresentation }
    }

    /// A receiver's certificate for 127.0.0.1.
    public func receiver(validFor days: Double = 2) throws -> Issued {
        try issue(commonName: "127.0.0.1", usage: .serverAuth, days: days,
                  names: SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]))
    }

    /// A client certificate, for a receiver that asks for one.
    public func client(validFor days: Double = 2) throws -> Issued {
        try issue(commonName: "overdued", usage: .clientAuth, days: days, names: nil)
    }

    private func issue(commonName: String, usage: ExtendedKeyUsage.Usage, days: Double,
                       names: SubjectAlternativeNames?) throws -> Issued {
        let subjectKey = P256.Signing.PrivateKey()
        let (start, end) = Self.validity(days: days, endedAgo: nil)
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(subjectKey.publicKey),
            notValidBefore: start, notValidAfter: end, issuer: name,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                if let names { names }
            },
            issuerPrivateKey: .init(key))
        return Issued(key: subjectKey, certificate: certificate)
    }

    public var certificatePEM: String { ((try? certificate.serializeAsPEM().pemString) ?? "") + "\n" }
    /// The certificate as DER (binary), as some authorities hand theirs out.
    public var certificateDER: [UInt8] { (try? certificate.serializeAsPEM().derBytes) ?? [] }

    /// A TLS server context for a receiver on 127.0.0.1 with a certificate of this authority;
    /// with `clientsOf`, the receiver asks every client for a certificate of that authority.
    public func receiverContext(clientsOf clientAuthority: TestAuthority? = nil, maximumVersion: TLSVersion? = nil) throws -> NIOSSLContext {
        let issued = try receiver()
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(issued.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(issued.keyPEM.utf8), format: .pem)))
        configuration.maximumTLSVersion = maximumVersion
        if let clientAuthority {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(clientAuthority.certificatePEM.utf8)))
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A certificate for 127.0.0.1 that signs itself: no client trusts it.
public enum SelfSignedCertificate {
    public static func serverContext() throws -> NIOSSLContext {
        try TestAuthority(name: "127.0.0.1").receiverContext()
    }
}
