import Foundation
import OverduedConfig
import Testing

/// What a config may hold but should not: warned about (`check-config`, the journal at start
/// and reload), or refused where the request would not be what the operator meant.
struct ConfigWarningsTests {
    static func chmod(_ path: String, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    static let signed = #"{"hook": {"url": "https://hooks.example.com/x", "signing_secret_file": "signing-secret", "headers": {"Authorization": {"file": "auth-header"}}}}"#

    /// `every` beside `once_per_scheduled_date: true` says something the rule will not do.
    @Test func everyBesideOncePerScheduledDateIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        let rules = #"[{"name": "r", "match": {"status_in": ["received"]}, "repeat": {"once_per_scheduled_date": true, "every": "4h"}, "destinations": ["hook"]}]"#
        let config = try fixture.load(ConfigFixture.config(rules: rules))
        #expect(config.warnings.map(\.path) == ["rules[0].repeat.every"])
        #expect(config.warnings.first?.message.hasPrefix("is not applied with once_per_scheduled_date: true") == true)
        let alone = #"[{"name": "r", "match": {"status_in": ["received"]}, "repeat": {"once_per_scheduled_date": true}, "destinations": ["hook"]}]"#
        #expect(try fixture.load(ConfigFixture.config(rules: alone)).warnings == [])
    }

    @Test func aSecretFileEveryUserCanReadIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        try Self.chmod(fixture.directory.url("signing-secret"), 0o644)
        try Self.chmod(fixture.directory.url("auth-header"), 0o600)
        let config = try fixture.load(ConfigFixture.config(destinations: Self.signed))
        #expect(config.warnings.map(\.path) == ["destinations.hook.signing_secret_file"])
        #expect(config.warnings.first?.message == "the secret file \(fixture.directory.url("signing-secret")) is readable by every user (mode 0644): "
                + "chmod o-r it (600, or 640 with the service's group), or load it as a systemd credential (LoadCredential=)")
        try Self.chmod(fixture.directory.url("signing-secret"), 0o640)
        #expect(try fixture.load(ConfigFixture.config(destinations: Self.signed)).warnings == [], "the service's group may read it")
    }

    /// A secret (or certificate) file every user can write decides where notifications go,
    /// whom they trust or how they are signed: warned about, as the config and templates are.
    @Test func aSecretFileEveryUserCanWriteIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        try Self.chmod(fixture.directory.url("signing-secret"), 0o622)
        try Self.chmod(fixture.directory.url("auth-header"), 0o600)
        let config = try fixture.load(ConfigFixture.config(destinations: Self.signed))
        #expect(config.warnings.map(\.description) == [
            "destinations.hook.signing_secret_file: the file \(fixture.directory.url("signing-secret")) is writable by every user (mode 0622): "
                + "whoever can write it changes where notifications go, whom they trust or how they are signed; chmod o-w it",
        ])
    }

    /// A config every user can read that holds secrets in its own text (a token in a URL's
    /// path or query, a credential header) is warned about, naming where (never what); a plain
    /// path or header is no secret.
    @Test func secretsInAConfigEveryUserCanReadAreWarnedAbout() throws {
        let fixture = try ConfigFixture()
        let rules = #"[{"name": "r", "match": {"status_in": ["received"]}, "destinations": ["chat", "plain"]}]"#
        let json = ConfigFixture.config(rules: rules, destinations: #"""
            {"chat": {"url": "https://hooks.slack.com/services/T0AB12CD/B0XY34ZZ/abcDEF123456ghiJKL789",
                      "headers": {"X-Team": "maintenance", "X-Api-Key": "k3y-0123-4567"}},
             "plain": {"url": "https://hooks.example.com/api/v2/maintenance2024-overdue?priority=high",
                       "headers": {"X-Trace": "on", "X-Idempotency-Key": "none", "X-Client": "maintenance-app/2.4.1-build17"}}}
            """#)
        try Data(json.utf8).write(to: URL(fileURLWithPath: fixture.configPath))
        try Self.chmod(fixture.configPath, 0o644)
        #expect(try fixture.load(json).warnings.map(\.description) == [
            "the config file \(fixture.configPath) is readable by every user (mode 0644) and holds secrets in its text "
                + "(destinations.chat.url, destinations.chat.headers.X-Api-Key): move them into secret files (url_file, "
                + "{\"file\": …} for a header, systemd credentials), or chmod o-r the config (640 with the service's group)",
        ])
        try Self.chmod(fixture.configPath, 0o640)
        #expect(try fixture.load(json).warnings == [])
    }

    @Test func aConfigOrTemplateEveryUserCanWriteIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        let json = ConfigFixture.config(destinations: #"{"hook": {"url": "https://hooks.example.com/x", "format": {"template": "templates/chat.mustache"}}}"#)
        try Data(json.utf8).write(to: URL(fileURLWithPath: fixture.configPath))
        try Self.chmod(fixture.configPath, 0o666)
        try Self.chmod(fixture.directory.url("templates/chat.mustache"), 0o646)
        let config = try fixture.load(json)
        #expect(config.warnings.map(\.path) == ["destinations.hook.format.template", ""])
        #expect(config.warnings.last?.message.hasPrefix("the config file \(fixture.configPath) is writable by every user (mode 0666)") == true,
                "\(config.warnings)")
        try Self.chmod(fixture.configPath, 0o644)
        try Self.chmod(fixture.directory.url("templates/chat.mustache"), 0o664)
        #expect(try fixture.load(json).warnings == [])
    }

    /// Plain http:// to another machine: what travels in clear is named (credentials by
    /// their place, never their value); a loopback receiver is not warned about.
    @Test func plainHTTPOffThisMachineIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        let rules = #"[{"name": "r", "match": {"status_in": ["received"]}, "destinations": ["lan", "bare", "here", "v6", "named", "tls"]}]"#
        let json = ConfigFixture.config(rules: rules, destinations: #"""
            {"lan": {"url": "http://bot:pw-secret@10.0.0.5:5678/webhook/abc?token=q-secret", "headers": {"X-Team": "maintenance"}},
             "bare": {"url": "http://hooks.example.com/x"},
             "here": {"url": "http://127.0.0.1:9000/x?token=q"}, "v6": {"url": "http://[::1]:9000/x"},
             "named": {"url": "http://localhost:9000/x"}, "tls": {"url": "https://hooks.example.com/x?token=q"}}
            """#)
        let config = try fixture.load(json)
        #expect(config.warnings.map(\.description) == [
            "destinations.bare.url: is plain http:// to http://hooks.example.com, off this machine: the payloads (ticket data) "
                + "and the URL's path travel unencrypted, readable and changeable on the way; use https://",
            "destinations.lan.url: is plain http:// to http://10.0.0.5:5678, off this machine: the payloads (ticket data), "
                + "the Authorization header, the X-Team header, the query "
                + "and the URL's path travel unencrypted, readable and changeable on the way; use https://",
        ])
        #expect(!config.warnings.description.contains("secret"))
    }

    @Test(arguments: [("127.0.0.1", true), ("127.1", true), ("127.255.0.9", true), ("[::1]", true), ("[0::1]", true),
                      ("[::ffff:127.0.0.1]", true), ("localhost", true), ("localhost.", true), ("api.localhost", true),
                      ("10.0.0.5", false), ("128.0.0.1", false), ("[::2]", false), ("[::ffff:10.0.0.1]", false),
                      ("hooks.example.com", false), ("127.example.com", false)])
    func loopbackHostsAreToldApart(host: String, loopback: Bool) {
        #expect(WebhookURL.isLoopback(host: host) == loopback)
    }

    /// Two secrets in one file (a rotation) load; a short one among them is named by its place.
    @Test func twoSecretsInOneFileLoadAndAShortOneIsNamed() throws {
        let fixture = try ConfigFixture()
        try fixture.directory.write("signing-secret", ConfigFixture.signingSecret + "\n" + "whsec_" + Data(repeating: 1, count: 16).base64EncodedString() + "\n")
        try Self.chmod(fixture.directory.url("signing-secret"), 0o600)
        let json = ConfigFixture.config(destinations: #"{"hook": {"url": "https://hooks.example.com/x", "signing_secret_file": "signing-secret"}}"#)
        let config = try fixture.load(json)
        #expect(config.destinations.first?.signingSecret != nil)
        #expect(config.warnings.map(\.description).first?.hasPrefix("destinations.hook.signing_secret_file: key 2 of 2 is 16 byte(s)") == true,
                "\(config.warnings)")
    }

    @Test func aSigningKeyShorterThanStandardWebhooksAsksIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        try fixture.directory.write("signing-secret", "whsec_" + Data(repeating: 1, count: 16).base64EncodedString() + "\n")
        try Self.chmod(fixture.directory.url("signing-secret"), 0o600)
        let json = ConfigFixture.config(destinations: #"{"hook": {"url": "https://hooks.example.com/x", "signing_secret_file": "signing-secret"}}"#)
        let config = try fixture.load(json)
        #expect(config.warnings.map(\.description) == [
            "destinations.hook.signing_secret_file: the key is 16 byte(s); Standard Webhooks asks for 24 to 64 random bytes: "
                + "make one with `echo whsec_$(openssl rand -base64 32)` and give the receiver the same",
        ])
        try fixture.directory.write("signing-secret", ConfigFixture.signingSecret + "\n")
        #expect(try fixture.load(json).warnings == [], "32 bytes")
    }

    /// Connection-level headers would be dropped or contradict how the client sends the
    /// request; a Proxy-Authorization header would hand the proxy's password to the receiver.
    /// They are not sent, and warned about; a config an earlier release loaded still loads.
    @Test func connectionHeadersAreNotSentAndWarnedAbout() throws {
        let fixture = try ConfigFixture()
        let config = try fixture.load(ConfigFixture.config(destinations: #"""
            {"hook": {"url": "https://hooks.example.com/x", "headers": {"Connection": "close", "Transfer-Encoding": "chunked",
             "Proxy-Authorization": "Basic cm9ib3Q6czNjcmV0", "Content-Encoding": "gzip", "X-Team": "maintenance"}}}
            """#))
        #expect(config.destinations.first?.headerList.map(\.name) == ["X-Team"])
        #expect(config.warnings.map(\.path) == ["destinations.hook.headers.Connection", "destinations.hook.headers.Content-Encoding",
                                                "destinations.hook.headers.Proxy-Authorization", "destinations.hook.headers.Transfer-Encoding"])
        #expect(config.warnings.first { $0.path.hasSuffix("Proxy-Authorization") }?.message
                == "Proxy-Authorization is not sent: it would go to the receiver, not the proxy: give the proxy's user and password in proxy_url (http://user:password@host:port); remove it from headers")
        #expect(!config.warnings.map(\.description).joined().contains("cm9ib3Q6czNjcmV0"), "the value is never shown")
    }

    /// A line break or another control character in a URL is not sent as written: the client
    /// percent-encodes it into another path. Refused, without quoting the URL. Spaces around
    /// it are trimmed, as from a url_file; a space inside is sent percent-encoded, as before.
    @Test func aURLWithALineBreakIsRefused() throws {
        let fixture = try ConfigFixture()
        for url in ["https://hooks.example.com/a\\r\\nHost: evil", "https://hooks.example.com/\\u0007x"] {
            let problems = fixture.problems(ConfigFixture.config(destinations: #"{"hook": {"url": "\#(url)"}}"#))
            #expect(problems.map(\.description) == ["destinations.hook.url: holds a line break or another control character, which a URL cannot hold; remove it, or percent-encode it if it is meant (%0A)"],
                    "\(url)")
        }
        let trimmed = try fixture.load(ConfigFixture.config(destinations: #"{"hook": {"url": " https://hooks.example.com/x \n"}}"#))
        #expect(trimmed.destinations.first?.url.value == "https://hooks.example.com/x")
        #expect(try fixture.load(ConfigFixture.config(destinations: #"{"hook": {"url": "https://hooks.example.com/a b"}}"#)).warnings == [])
        try fixture.directory.write("broken-url", "https://hooks.example.com/a\u{07}b\n")
        let fromFile = fixture.problems(ConfigFixture.config(destinations: #"{"hook": {"url_file": "broken-url"}}"#))
        #expect(fromFile.map(\.path) == ["destinations.hook.url_file"])
    }
}
