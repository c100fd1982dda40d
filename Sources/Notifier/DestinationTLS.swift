public import Foundation
internal import NIOSSL
public import OverduedConfig

/// A destination's `tls` files as NIOSSL uses them: the certificates it trusts instead of
/// the system's, and the client certificate and key it shows a receiver that asks for one.
/// The same reading checks a config (`problems`, refused like any config error) and builds
/// what each request to the destination carries (`configuration`).
public enum DestinationTLS {
    /// Each problem named by its key under `tls` (`ca_file`, `certificate_file`,
    /// `private_key_file`). The key's text is a secret: no message quotes it.
    public static func problems(_ spec: TLSSpec) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if let file = spec.trustedCertificates {
            if case .failure(let failure) = certificates(file, key: "ca_file") { problems.append(failure.problem) }
        }
        var chain: [NIOSSLCertificate]?
        if let file = spec.clientCertificate {
            switch certificates(file, key: "certificate_file") {
            case .success(let read): chain = read
            case .failure(let failure): problems.append(failure.problem)
            }
        }
        var key: NIOSSLPrivateKey?
        if let file = spec.clientKey {
            switch privateKey(file) {
            case .success(let read): key = read
            case .failure(let failure): problems.append(failure.problem)
            }
        }
        if let chain, let key, let leaf = chain.first, let file = spec.clientKey, let certificate = spec.clientCertificate {
            if !fits(key, leaf) {
                problems.append(ConfigProblem(path: "private_key_file",
                                              message: "\(file.path) is not the key of the certificate in \(certificate.path) (its first certificate)"))
            }
        }
        return problems
    }

    /// Certificates that have expired or expire within `soon`, as warnings naming the key and
    /// the file: the config is valid, but the handshakes that need them will fail.
    public static func expiryWarnings(_ spec: TLSSpec, now: Date, soon: TimeInterval = 30 * 86_400) -> [ConfigProblem] {
        var warnings: [ConfigProblem] = []
        for (key, file) in [("ca_file", spec.trustedCertificates), ("certificate_file", spec.clientCertificate)] {
            guard let file, case .success(let read) = certificates(file, key: key) else { continue }
            for (index, certificate) in read.enumerated() {
                let end = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
                let which = read.count == 1 ? "the certificate in \(file.path)" : "certificate \(index + 1) of \(read.count) in \(file.path)"
                let day = end.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
                if end <= now {
                    warnings.append(ConfigProblem(path: key, message: "\(which) expired on \(day)Z: handshakes that need it fail"))
                } else if end.timeIntervalSince(now) < soon {
                    warnings.append(ConfigProblem(path: key, message: "\(which) expires on \(day)Z"))
                }
            }
        }
        return warnings
    }

    /// `expiryWarnings` of every destination, each line starting with its config path
    /// (`destinations.NAME.tls.ca_file: …`), for `check-config`, the start and a reload.
    public static func expiryWarnings(_ destinations: [DestinationSpec], now: Date) -> [String] {
        destinations.flatMap { destination in
            destination.tls.map { expiryWarnings($0, now: now) }?.map { "destinations.\(destination.name).tls.\($0)" } ?? []
        }
    }

    /// The TLS configuration of every request to the destination.
    static func configuration(_ spec: TLSSpec) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = spec.trustedCertificates {
            configuration.trustRoots = .certificates(try certificates(file, key: "ca_file").get())
        }
        if let certificate = spec.clientCertificate, let key = spec.clientKey {
            configuration.certificateChain = try certificates(certificate, key: "certificate_file").get().map { .certificate($0) }
            configuration.privateKey = .privateKey(try privateKey(key).get())
        }
        return configuration
    }

    /// A file that cannot be used, as the config problem that says why.
    struct FileProblem: Error {
        var problem: ConfigProblem
        init(path: String, message: String) { problem = ConfigProblem(path: path, message: message) }
    }

    private static func certificates(_ file: PEMFile, key: String) -> Result<[NIOSSLCertificate], FileProblem> {
        // NIOSSL throws on text that is not PEM and returns nothing for PEM without a
        // certificate (a key alone): one message for both.
        guard let read = try? NIOSSLCertificate.fromPEMBytes(Array(file.contents.utf8)), !read.isEmpty else {
            return .failure(FileProblem(path: key, message: "\(file.path) holds no PEM certificate: expected -----BEGIN CERTIFICATE----- blocks"))
        }
        return .success(read)
    }

    private static func privateKey(_ file: SecretFile) -> Result<NIOSSLPrivateKey, FileProblem> {
        do {
            // An encrypted key would make BoringSSL ask for a passphrase on the terminal; with an
            // empty one it fails instead, and the message says what to do.
            let key = try NIOSSLPrivateKey(bytes: Array(file.contents.value.utf8), format: .pem) { (setPassphrase: NIOSSLPassphraseSetter<[UInt8]>) in
                setPassphrase([])
            }
            return .success(key)
        } catch {
            let encrypted = file.contents.value.contains("ENCRYPTED")
            return .failure(FileProblem(path: "private_key_file", message: encrypted
                ? "\(file.path) is an encrypted key, which overdued cannot unlock unattended: store it decrypted (openssl pkey -in KEY -out KEY.plain) and protect the file, e.g. as a systemd credential"
                : "\(file.path) holds no PEM private key: expected a -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block"))
        }
    }

    /// Whether the key is the one the certificate was issued for: BoringSSL refuses a context
    /// whose key does not fit its certificate.
    private static func fits(_ key: NIOSSLPrivateKey, _ certificate: NIOSSLCertificate) -> Bool {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = [.certificate(certificate)]
        configuration.privateKey = .privateKey(key)
        return (try? NIOSSLContext(configuration: configuration)) != nil
    }
}
