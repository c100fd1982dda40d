import Foundation
@testable import OverduedConfig
import Testing

/// A secret written where its file's name belongs is told from a file name, so that no
/// message quotes it (messages reach the journal on a refused reload).
struct SecretFileNameTests {
    @Test(arguments: [
        "-----BEGIN PRIVATE KEY-----\nMIGH", "two\nlines", "https://hooks.example.com/services/T0/B0/XXXX",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "Bearer xoxb-123", "squiduser:S3cretPw@127.0.0.1:3128",
        "Token sk-live-ABCDEF123456", "dGVzdHNlY3JldDEyMzQ1Njc4OTBBQkNERUY=",
    ])
    func aValueIsNotAFileName(_ value: String) {
        #expect(ConfigLoader.valueInsteadOfFileName(value) != nil)
    }

    @Test(arguments: [
        "webhook-signing-secret", "automation-url", "slack-token", "overdued-client-key", "proxy-url",
        "/etc/overdued/credentials/automation-url", "secrets/Client_Key_2026.pem", "../credentials/WebhookSecret2",
    ])
    func aFileNameIsOne(_ name: String) {
        #expect(ConfigLoader.valueInsteadOfFileName(name) == nil)
    }
}

/// A name that cannot be read and may be the secret itself (not refused outright: it could be
/// a file's name) is not quoted in the message, which reaches the journal on a reload.
struct UnreadSecretFileNameTests {
    @Test(arguments: [
        "hooks.slack.com/services/T000/B000/BadCfgTok3nQQQQ", "9f8e7d6c5b4a39281716050403020100aabbccdd",
        "Zm9vYmFyYmF6/cXV4cXV1eA+BadCfgPassRRRR==", "bearer:BadCfgTok3nQQQQ",
    ])
    func itIsNotQuoted(_ name: String) throws {
        #expect(ConfigLoader.mayBeSecret(name))
        let fixture = try ConfigFixture()
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\")
        for key in ["url_file", "signing_secret_file"] {
            var destination = #"{"\#(key)": "\#(escaped)""#
            if key != "url_file" { destination += #", "url": "https://a.example.com/x""# }
            let problems = fixture.problems(ConfigFixture.hook(destination + "}"))
            let text = problems.map(\.description).joined(separator: "\n")
            #expect(problems.map(\.path) == ["destinations.hook.\(key)"], "\(text)")
            #expect(text.contains("the name is not shown"), "\(text)")
            for part in name.split(whereSeparator: { "/:".contains($0) }) where part.count >= 8 {
                #expect(!text.contains(part), "\(text)")
            }
        }
    }

    @Test(arguments: ["slack-url", "hook-url-2026", "/etc/overdued/credentials/hook.url", "../credentials/WebhookSecret2"])
    func aFileNameIsQuoted(_ name: String) throws {
        #expect(!ConfigLoader.mayBeSecret(name))
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url_file": "\#(name)"}"#))
        #expect(problems.first?.message.contains("cannot read ") == true && problems.first?.message.contains(name.split(separator: "/").last.map(String.init) ?? name) == true,
                "\(problems)")
    }
}

/// A key or value with a line break or an escape sequence is quoted escaped: one line in a
/// terminal, one journal record.
struct ConfigProblemLineTests {
    @Test func controlCharactersAreShownEscaped() throws {
        let problem = ConfigProblem(path: "destinations.a\nb", message: "\"x\u{1B}[2J\" is not a duration")
        #expect(problem.description == "destinations.a\\nb: \"x\\u{1B}[2J\" is not a duration")
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url": "https://a.example.com/x", "timeout": "5\u001b[2Js"}"#))
        #expect(problems.map(\.description).allSatisfy { !$0.contains("\u{1B}") }, "\(problems)")
    }
}

extension UnreadSecretFileNameTests {
    @Test(arguments: ["ntfy.sh/plant-maintenance-overdue-alerts", "example.com/hook?token=abcdef0123456789"])
    func aSchemeLessURLWithATwoLabelHostIsNotQuoted(_ name: String) {
        #expect(ConfigLoader.mayBeSecret(name))
    }
}

/// A pipe given on purpose (`--config /dev/stdin`, a shell's `<(…)`, which is /dev/fd/N) is
/// read as the config; a FIFO elsewhere is refused as one (`aFIFOGivenAsTheConfigIsSaidToBeOne`).
struct ConfigFromAPipeTests {
    @Test func aPipeUnderDevIsRead() throws {
        let pipe = Pipe()
        pipe.fileHandleForWriting.write(Data(#"{"rules": "not a list"}"#.utf8))
        try pipe.fileHandleForWriting.close()
        do {
            _ = try ConfigLoader().load(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
            Issue.record("an incomplete config loaded")
        } catch {
            let text = error.problems.map(\.description).joined(separator: "\n")
            #expect(!text.contains("not a regular file") && !text.contains("cannot read"), "\(text)")
        }
    }
}
