import Foundation
internal import NIOSSL

/// An operator's words for a TLS error ("TLS handshake failed: certificate verify failed").
/// NIOSSL's own description of a failed handshake is BoringSSL's error stack, each entry
/// with its numeric code and the source file and line where the library raised it (a path in
/// the build folder of whoever built overdued): none of that helps whoever reads `queue`,
/// the journal or `send-test`, and a path is no business of theirs. The reason is kept.
enum TLSFailure {
    /// The message for a TLS error, nil when `error` is not one.
    static func message(_ error: any Error) -> String? {
        if let error = error as? NIOSSLError {
            switch error {
            case .handshakeFailed(let cause):
                // TLS 1.2 reports the receiver's alerts during the handshake itself.
                let reason = reason(cause)
                return clientCertificateHint(reason) ?? "TLS handshake failed: \(reason)"
            case .shutdownFailed(let cause):
                return "TLS shutdown failed: \(reason(cause))"
            case .uncleanShutdown:
                return "TLS error: the connection was closed without a TLS close"
            default:
                return "TLS error: \(words(String(describing: error)))"
            }
        }
        if let error = error as? NIOSSLExtraError {
            if error == .failedToValidateHostname {
                return "TLS handshake failed: the certificate is not valid for the URL's host name"
            }
            // "NIOSSLExtraError.invalidSNIHostname: …": the case's name, not the details
            // (they can quote a host name or a file path).
            let name = String(describing: error).split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            return "TLS error: \(words(name.split(separator: ".").last.map(String.init) ?? name))"
        }
        if let error = error as? BoringSSLError {
            let reason = reason(error)
            return clientCertificateHint(reason) ?? "TLS error: \(reason)"
        }
        return nil
    }

    /// The alerts of a receiver that wants a client certificate (TLS 1.3 sends them after the
    /// handshake, so they come as plain errors): what they mean, and the keys that fix it.
    static func clientCertificateHint(_ reason: String) -> String? {
        if reason.contains("alert certificate required") {
            return "TLS handshake failed: the receiver asks for a client certificate (tls.certificate_file and tls.private_key_file)"
        }
        if reason.contains("alert handshake failure") {
            // TLS 1.2's answer to a missing client certificate, and to no common cipher.
            return "TLS handshake failed: \(reason) (the receiver refused the handshake: it may ask for a client certificate, "
                + "tls.certificate_file and tls.private_key_file, or share no cipher with overdued)"
        }
        for alert in ["unknown ca", "bad certificate", "certificate unknown", "certificate expired", "certificate revoked",
                      "unsupported certificate", "access denied"] where reason.contains("alert \(alert)") {
            return "TLS handshake failed: the receiver refused the client certificate (\(reason))"
        }
        return nil
    }

    /// What BoringSSL said, in words: the reasons of its error stack, or the case's name.
    static func reason(_ error: BoringSSLError) -> String {
        switch error {
        case .sslError(let stack), .unknownError(let stack), .invalidSNIName(let stack), .failedToSetALPN(let stack):
            let reasons = stack.map(reason)
            var unique: [String] = []
            for reason in reasons where !unique.contains(reason) { unique.append(reason) }
            return unique.isEmpty ? words(caseName(error)) : unique.joined(separator: "; ")
        default:
            return words(caseName(error))
        }
    }

    /// One entry of BoringSSL's error stack, whose description is
    /// `Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path/handshake.cc:320`
    /// (or `Error:  EOF during handshake` for the ones NIOSSL makes): the reason alone,
    /// "certificate verify failed", never the path.
    static func reason(_ entry: BoringSSLInternalError) -> String {
        let text = entry.description
        if let start = text.range(of: "error:") {
            // code:library:function:REASON, then " at FILE:LINE".
            let fields = text[start.upperBound...].split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            if fields.count == 4, let reason = fields[3].split(separator: " ").first, !reason.isEmpty {
                return reason.lowercased().replacingOccurrences(of: "_", with: " ")
            }
            return "unknown reason"
        }
        var message = text.hasPrefix("Error:") ? String(text.dropFirst("Error:".count)) : text
        message = message.trimmingCharacters(in: .whitespaces)
        // Never a path, whatever the form.
        if let at = message.range(of: " at /") { message = String(message[..<at.lowerBound]) }
        return message.isEmpty ? "unknown reason" : message
    }

    /// The name of an enum case, without its payload.
    private static func caseName(_ value: some Any) -> String {
        let text = String(describing: value)
        return text.split(separator: "(", maxSplits: 1).first.map(String.init) ?? text
    }

    /// A case name in words: `noCertificateToValidate` → "no certificate to validate",
    /// `invalidSNIHostname` → "invalid SNI hostname" (acronyms stay upper case).
    static func words(_ camelCase: String) -> String {
        let characters = Array(camelCase)
        var words: [String] = []
        var word = ""
        for (index, character) in characters.enumerated() {
            let previous = index > 0 ? characters[index - 1] : nil
            let next = index + 1 < characters.count ? characters[index + 1] : nil
            let startsWord = character.isUppercase && previous != nil
                && (previous?.isUppercase == false || next?.isLowercase == true)
            if startsWord, !word.isEmpty {
                words.append(word)
                word = ""
            }
            word.append(character)
        }
        if !word.isEmpty { words.append(word) }
        return words.map { $0.count > 1 && $0.allSatisfy(\.isUppercase) ? $0 : $0.lowercased() }.joined(separator: " ")
    }
}
