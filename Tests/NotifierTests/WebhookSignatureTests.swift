import Foundation
import Crypto
@testable import Notifier
import OverduedConfig
import Testing

@Suite struct WebhookSignatureTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let body = Data(#"{"test": 2432232314}"#.utf8)

    @Test func specExample() throws {
        let signature = try #require(WebhookSignature(secret: Self.secret))
        #expect(signature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body)
            == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    /// A secret without its base64 padding (as some receivers print it) is the same key;
    /// what is no base64 at all is still refused.
    @Test func aSecretWithoutItsPaddingIsTheSameKey() throws {
        let padded = "whsec_" + Data([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]).base64EncodedString()
        #expect(padded.hasSuffix("=="))
        let unpadded = String(padded.dropLast(2))
        #expect(SigningSecretFormat.keyBytes(unpadded) == SigningSecretFormat.keyBytes(padded))
        #expect(SigningSecretFormat.keyBytes(String(padded.dropLast(1))) == SigningSecretFormat.keyBytes(padded))
        for refused in ["whsec_", "whsec_a", "whsec_=", "whsec_ab!d", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            #expect(SigningSecretFormat.keyBytes(refused) == nil, "\(refused)")
        }
    }

    /// Rotation: a secret file with two secrets signs with both, one `v1,` signature each in
    /// one header; a receiver that knows either one verifies, one that knows neither does not.
    @Test func twoSecretsSignWithBothForARotation() throws {
        let old = Self.secret, new = "whsec_" + Data(repeating: 9, count: 32).base64EncodedString()
        let both = try #require(WebhookSignature(secret: old + "\n" + new + "\n"))
        let body = Data(#"{"a":1}"#.utf8)
        let header = both.sign(id: "msg_1", timestamp: 1_795_000_000, body: body)
        let parts = header.split(separator: " ")
        #expect(parts.count == 2 && parts.allSatisfy { $0.hasPrefix("v1,") }, "\(header)")
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        for secret in [old, new] {
            let receiver = try #require(WebhookSignature(secret: secret))
            #expect(receiver.verify(id: "msg_1", timestamp: "1795000000", signatureHeader: header, body: body, now: now) == .valid)
            #expect(String(parts[secret == old ? 0 : 1]) == receiver.sign(id: "msg_1", timestamp: 1_795_000_000, body: body))
        }
        let stranger = try #require(WebhookSignature(secret: "whsec_" + Data(repeating: 3, count: 32).base64EncodedString()))
        #expect(stranger.verify(id: "msg_1", timestamp: "1795000000", signatureHeader: header, body: body, now: now) != .valid)
        #expect(both.verify(id: "msg_1", timestamp: "1795000000", signatureHeader: String(parts[1]), body: body, now: now) == .valid)
        #expect(WebhookSignature(secret: old + " not-a-secret") == nil)
        #expect(WebhookSignature(secret: old + "," + new) == nil)
    }

    @Test func verifyAcceptsOursAndRejectsTampering() throws {
        let signature = try #require(WebhookSignature(secret: Self.secret))
        let now = Date(timeIntervalSince1970: Double(Self.timestamp) + 10)
        let header = "v1,bm90IGl0 " + signature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body)
        #expect(signature.verify(id: Self.id, timestamp: "\(Self.timestamp)", signatureHeader: header, body: Self.body, now: now) == .valid)
        #expect(signature.verify(id: Self.id, timestamp: "\(Self.timestamp)", signatureHeader: header, body: Data("{}".utf8), now: now) != .valid)
        #expect(signature.verify(id: "msg_other", timestamp: "\(Self.timestamp)", signatureHeader: header, body: Self.body, now: now) != .valid)
        let late = now.addingTimeInterval(3_600)
        #expect(signature.verify(id: Self.id, timestamp: "\(Self.timestamp)", signatureHeader: header, body: Self.body, now: late) != .valid)
        // The window is two-sided: a timestamp an hour ahead of the clock is refused too.
        let early = now.addingTimeInterval(-3_600)
        #expect(signature.verify(id: Self.id, timestamp: "\(Self.timestamp)", signatureHeader: header, body: Self.body, now: early) != .valid)
        #expect(WebhookSignature(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == nil)
    }

    /// The signed content holds the timestamp header as sent: a "+…" or " …" form is not the
    /// text the signature covers (its sender, signing what it sent, would be refused while
    /// ours, signing the digits, was accepted), so only digits are read.
    @Test func theTimestampIsVerifiedAsItWasSent() throws {
        let signature = try #require(WebhookSignature(secret: Self.secret))
        let now = Date(timeIntervalSince1970: Double(Self.timestamp) + 10)
        let header = signature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body)
        for text in ["+\(Self.timestamp)", "0\(Self.timestamp)", " \(Self.timestamp)", "\(Self.timestamp) ", "", "-1"] {
            #expect(signature.verify(id: Self.id, timestamp: text, signatureHeader: header, body: Self.body, now: now)
                    == .invalid(reason: text.hasPrefix("0") ? "no v1 signature matches the secret" : "webhook-timestamp is not a number of seconds"),
                    "\(text)")
        }
        // A sender that signed its "0…" text as sent is verified against that text.
        let key = try #require(SigningSecretFormat.keyBytes(Self.secret))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(Self.id).0\(Self.timestamp).".utf8) + Self.body, using: SymmetricKey(data: key))
        #expect(signature.verify(id: Self.id, timestamp: "0\(Self.timestamp)", signatureHeader: "v1," + Data(mac).base64EncodedString(),
                                 body: Self.body, now: now) == .valid)
    }

    static let pythonHasStandardWebhooks: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import standardwebhooks"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        } catch {
            return false
        }
    }()

    /// The Standard Webhooks scheme as its specification states it, written again in Python's
    /// standard library alone (so it runs wherever `python3` does, unlike the reference
    /// library below): HMAC-SHA256, keyed by the base64 after `whsec_`, over
    /// `{webhook-id}.{webhook-timestamp}.{body}`, sent as `v1,{base64}`. Our signature of a
    /// body with every awkward byte matches it; a body changed by one byte does not.
    @Test func theSpecificationsSchemeInPythonAgreesWithOurSignature() throws {
        let body = Data("{\"title\":\"Fuite \\\"urgente\\\" é 🔥\",\"n\":\"a\\nb\"}\n".utf8)
        let signature = try #require(WebhookSignature(secret: Self.secret))
        let header = signature.sign(id: Self.id, timestamp: Self.timestamp, body: body)
        let script = """
            import base64, hashlib, hmac, sys
            secret, msg_id, ts, header = sys.argv[1:5]
            body = sys.stdin.buffer.read()
            key = base64.b64decode(secret[len("whsec_"):])
            expected = base64.b64encode(hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()).decode()
            sent = [part.split(",", 1)[1] for part in header.split(" ") if part.startswith("v1,")]
            print("match" if any(hmac.compare_digest(expected, s) for s in sent) else "no match: " + expected)
            """
        let arguments = [Self.secret, Self.id, String(Self.timestamp), header]
        func python(_ body: Data) throws -> String {
            try Self.python(script, arguments: arguments, input: body).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try python(body) == "match")
        var changed = body
        changed[changed.startIndex + 3] ^= 0x01
        #expect(try python(changed).hasPrefix("no match"))
    }

    /// The reference implementation (PyPI `standardwebhooks`) accepts what we send.
    @Test(.enabled(if: pythonHasStandardWebhooks, "needs `pip install standardwebhooks`"))
    func referenceLibraryVerifiesOurSignature() throws {
        let now = Date()
        let seconds = PayloadTimestamp.unixSeconds(now)
        let body = PayloadRenderer.testPayload(destination: "d", notificationID: Self.id, sentAt: now)
        let signature = try #require(WebhookSignature(secret: Self.secret))
        let script = """
            import sys, json
            from standardwebhooks.webhooks import Webhook
            secret, msg_id, ts, sig = sys.argv[1:5]
            body = sys.stdin.buffer.read()
            Webhook(secret).verify(body, {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig})
            print("ok")
            """
        let (status, text) = try Self.python(script, arguments: [Self.secret, Self.id, String(seconds),
                                                                 signature.sign(id: Self.id, timestamp: seconds, body: body)], input: body)
        #expect(status == 0, "standardwebhooks said: \(text)")
        #expect(text.contains("ok"))
    }

    /// Runs `script` with `python3 -c`, `arguments` after it and `input` on its stdin; its exit
    /// status and what it printed (stdout and stderr).
    static func python(_ script: String, arguments: [String], input: Data) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}
