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
