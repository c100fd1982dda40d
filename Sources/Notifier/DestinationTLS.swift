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

    /// Certificates that have expired, expire within `soon` or are not valid yet, as warnings
    /// naming the key, the file and the certificate: the config is valid, but the handshakes
    /// that need them fail.
    public static func validityWarnings(_ spec: TLSSpec, now: Date, soon: TimeInterval = 30 * 86_400) -> [ConfigProblem] {
        var warnings: [ConfigProblem] = []
        for (key, file) in [("ca_file", spec.trustedCertificates), ("certificate_file", spec.clientCertificate)] {
            guard let file, case .success(let read) = certificates(file, key: key) else { continue }
            for (index, certificate) in read.enumerated() {
                let start = Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore))
                let end = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
                let name = commonName(certificate).map { " (\($0))" } ?? ""
                let which = read.count == 1 ? "the certificate\(name) in \(file.path)"
                    : "certificate \(index + 1) of \(read.count)\(name) in \(file.path)"
                if end <= now {
                    warnings.append(ConfigProblem(path: key, message: "\(which) expired on \(day(end)): handshakes that need it fail"))
                } else if start > now {
                    warnings.append(ConfigProblem(path: key, message: "\(which) is not valid before \(day(start)): handshakes that need it fail until then"))
                } else if end.timeIntervalSince(now) < soon {
                    warnings.append(ConfigProblem(path: key, message: "\(which) expires on \(day(end))"))
                }
            }
        }
        return warnings
    }

    private static func day(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false)) + "Z"
    }

    /// The certificate's common name, as NIOSSL's description shows it (its accessor is not
    /// public): `<NIOSSLCertificate;serial_number=…;common_name=NAME;alternative_names=…>`.
    static func commonName(_ certificate: NIOSSLCertificate) -> String? {
        let text = certificate.description
        guard let start = text.range(of: ";common_name=") else { return nil }
        let name = text[start.upperBound...].prefix { $0 != ";" && $0 != ">" }
        return name.isEmpty ? nil : String(name)
    }

    /// `validityWarnings` of every destination, each line starting with its config path
    /// (`destinations.NAME.tls.ca_file: …`), for `check-config`, the start and a reload.
    public static func validityWarnings(_ destinations: [DestinationSpec], now: Date) -> [String] {
        destinations.flatMap { destination in
            destination.tls.map { validityWarnings($0, now: now) }?.map { "destinations.\(destination.name).tls.\($0)" } ?? []
        }
    }

    /// The TLS configuration of every request to the destination.
    static func configuration(_ spec: TLSSpec) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = spec.trustedCertificates {
            configuration.trustRoots = .certificates(trustOrder(try certificates(file, key: "ca_file").get(), now: Date()))
        }
        if let certificate = spec.clientCertificate, let key = spec.clientKey {
            configuration.certificateChain = try certificates(certificate, key: "certificate_file").get().map { .certificate($0) }
            configuration.privateKey = .privateKey(try privateKey(key).get())
        }
        return configuration
    }

    /// The trusted certificates, those valid now first, the longest-lived first: BoringSSL
    /// takes the first certificate of the issuer's name, and a bundle that still lists the
    /// expired copy of a renewed authority before the new one would fail every handshake.
    static func trustOrder(_ certificates: [NIOSSLCertificate], now: Date) -> [NIOSSLCertificate] {
        let seconds = time_t(now.timeIntervalSince1970)
        return certificates.enumerated().sorted { a, b in
            let validA = a.element.notValidBefore <= seconds && seconds < a.element.notValidAfter
            let validB = b.element.notValidBefore <= seconds && seconds < b.element.notValidAfter
            if validA != validB { return validA }
            if a.element.notValidAfter != b.element.notValidAfter { return a.element.notValidAfter > b.element.notValidAfter }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// A file that cannot be used, as the config problem that says why.
    struct FileProblem: Error {
        var problem: ConfigProblem
        init(path: String, message: String) { problem = ConfigProblem(path: path, message: message) }
    }

    private static func certificates(_ file: PEMFile, key: String) -> Result<[NIOSSLCertificate], FileProblem> {
        // NIOSSL throws on a block it cannot read and returns nothing for PEM without a
        // certificate (a key alone).
        let none = FileProblem(path: key, message: "\(file.path) holds no PEM certificate: expected -----BEGIN CERTIFICATE----- blocks")
        guard let read = try? NIOSSLCertificate.fromPEMBytes(Array(file.contents.utf8)) else {
            return .failure(file.contents.contains("-----BEGIN CERTIFICATE-----")
                ? FileProblem(path: key, message: "\(file.path) holds a certificate block that cannot be read (damaged or cut short)")
                : none)
        }
        guard !read.isEmpty else { return .failure(none) }
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
