import Foundation
import OverduedConfig
import Testing
import TestSupport

/// Valid configs: every key read into its typed value, every default, and where relative
/// paths are resolved.
struct ConfigLoaderTests {
    static let fullConfig = #"""
    {
      "store": {
        "tickets_database": "tickets.sqlite",
        "state_database": "state/state.sqlite",
        "timezone": "America/Toronto",
        "busy_timeout": "2s"
      },
      "schedule": { "interval": "1m", "align": false },
      "rules": [
        {
          "name": "overdue-assigned",
          "match": {
            "status_in": ["received", "diagnostic"],
            "assigned": true,
            "priority_in": ["high", "critical"],
            "grace": "1h30m",
            "include_deleted": true
          },
          "repeat": { "every": "12h", "once_per_scheduled_date": true, "on_change": ["assigned_to", "scheduled_date"] },
          "destinations": ["automation", "chat"]
        },
        {
          "name": "unassigned",
          "match": { "status_not_in": ["completed", "archived"], "assigned": false },
          "destinations": ["chat"]
        }
      ],
      "destinations": {
        "automation": {
          "url": "https://hooks.example.com:8443/path/T0KEN?token=abc",
          "format": "legacy",
          "headers": { "X-Team": "maintenance", "Authorization": { "file": "auth-header" } },
          "signing_secret_file": "signing-secret",
          "min_interval": "0ms",
          "concurrency": 4,
          "timeout": "30s",
          "retry": { "max_attempts": 8, "initial_backoff": "1s", "max_backoff": "10m", "give_up_after": "2d" }
        },
        "chat": {
          "url_file": "chat-url",
          "format": { "template": "templates/chat.mustache" }
        }
      },
      "log": { "level": "debug", "target": "stderr" }
    }
    """#

    @Test func everyKeyIsReadIntoItsTypedValue() throws {
        let fixture = try ConfigFixture()
        let config = try fixture.load(Self.fullConfig)
        let folder = fixture.directory.path

        #expect(config.sourcePath == fixture.configPath)
        #expect(config.store.ticketsDatabase == folder + "/tickets.sqlite")
        #expect(config.store.stateDatabase == folder + "/state/state.sqlite")
        #expect(config.store.timeZone.identifier == "America/Toronto")
        #expect(config.store.busyTimeout == .seconds(2))
        #expect(config.schedule.interval == .seconds(60))
        #expect(config.schedule.align == false)
        #expect(config.log.level == .debug)
        #expect(config.log.target == .stderr)

        try #require(config.rules.count == 2)
        let first = config.rules[0]
        #expect(first.name == "overdue-assigned")
        #expect(first.match == MatchSpec(statusIn: ["received", "diagnostic"], assigned: true,
                                         priorityIn: ["high", "critical"], grace: .seconds(5400), includeDeleted: true))
        #expect(first.repeatPolicy == RepeatSpec(every: .seconds(43_200), oncePerScheduledDate: true,
                                                 onChange: [.assignedTo, .scheduledDate]))
        #expect(first.destinations == ["automation", "chat"])
        let second = config.rules[1]
        #expect(second.match == MatchSpec(statusNotIn: ["completed", "archived"], assigned: false))
        #expect(second.repeatPolicy == RepeatSpec())

        #expect(config.destinations.map(\.name) == ["automation", "chat"])
        let automation = try #require(config.destination(named: "automation"))
        #expect(automation.url.value == "https://hooks.example.com:8443/path/T0KEN?token=abc")
        #expect(automation.redactedURL == "https://hooks.example.com:8443")
        #expect(automation.format == .legacy)
        #expect(automation.headerList == [
            .init(name: "Authorization", value: Secret("Bearer header-t0ken")),
            .init(name: "X-Team", value: Secret("maintenance")),
        ])
        #expect(automation.signingSecret == Secret(ConfigFixture.signingSecret))
        #expect(automation.minInterval == .zero)
        #expect(automation.concurrency == 4)
        #expect(automation.timeout == .seconds(30))
        #expect(automation.retry == RetrySpec(maxAttempts: 8, initialBackoff: .seconds(1), maxBackoff: .seconds(600),
                                              giveUpAfter: .seconds(172_800)))

        let chat = try #require(config.destination(named: "chat"))
        #expect(chat.url.value == "https://chat.example.com/hooks/T0KEN-IN-PATH?key=s3cret")
        #expect(chat.redactedURL == "https://chat.example.com")
        #expect(chat.format == .template(path: folder + "/templates/chat.mustache", source: "{{ticket_id}} is overdue"))
    }

    @Test func omittedKeysTakeTheirDefaults() throws {
        let fixture = try ConfigFixture()
        let json = #"""
        {
          "store": { "tickets_database": "tickets.sqlite" },
          "rules": [ { "name": "old-rule", "destinations": ["hook"] } ],
          "destinations": { "hook": { "url": "http://127.0.0.1:8787/" } }
        }
        """#
        let config = try fixture.load(json, environment: ["STATE_DIRECTORY": fixture.directory.url("state")])

        #expect(config.store.stateDatabase == fixture.directory.url("state") + "/state.sqlite")
        #expect(config.store.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_784_000_000)) == 0, "UTC, not local time")
        #expect(config.store.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_795_000_000)) == 0)
        #expect(config.store.busyTimeout == .seconds(5))
        #expect(config.store.historyRetention == .seconds(90 * 86_400))
        #expect(config.schedule.interval == .seconds(300))
        #expect(config.schedule.align == true)
        #expect(config.log.level == .info)
        #expect(config.log.target == .auto)

        let rule = try #require(config.rules.first)
        #expect(rule.match == MatchSpec())
        #expect(rule.match.grace == .zero)
        #expect(rule.match.includeDeleted == false)
        #expect(rule.repeatPolicy.every == .seconds(86_400))
        #expect(rule.repeatPolicy.oncePerScheduledDate == false)
        #expect(rule.repeatPolicy.onChange.isEmpty)

        let hook = try #require(config.destination(named: "hook"))
        #expect(hook.format == .standard)
        #expect(hook.headerList.isEmpty)
        #expect(hook.signingSecret == nil)
        #expect(hook.minInterval == .milliseconds(200))
        #expect(hook.concurrency == 1)
        #expect(hook.timeout == .seconds(10))
        #expect(hook.retry.maxAttempts == nil)
        #expect(hook.retry.initialBackoff == .seconds(5))
        #expect(hook.retry.maxBackoff == .seconds(1_800))
        #expect(hook.retry.giveUpAfter == .seconds(86_400))
        #expect(hook.redactedURL == "http://127.0.0.1:8787")
    }

    @Test func withoutStateDirectoryTheStateDatabaseDefaultsToVarLib() throws {
        // /var/lib/overdued usually does not exist on a build machine; either way the default
        // path is the one named in the message or the value.
        let fixture = try ConfigFixture()
        let json = ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite"}"#)
        do {
            let config = try fixture.load(json)
            #expect(config.store.stateDatabase == "/var/lib/overdued/state.sqlite")
        } catch {
            #expect(error.problems.map(\.path) == ["store.state_database"])
            #expect(error.problems.first?.message.contains("/var/lib/overdued") == true)
        }
    }

    @Test func relativePathsResolveNextToTheConfigFile() throws {
        let fixture = try ConfigFixture()
        let directory = fixture.directory
        try directory.write("data/app.sqlite", "x")
        try directory.write("etc/overdued/templates/t.mustache", "T")
        let configPath = try directory.write("etc/overdued/config.json", ConfigFixture.config(
            store: #"{"tickets_database": "../../data/app.sqlite", "state_database": "state.sqlite"}"#,
            destinations: #"{"hook": {"url": "https://example.com/", "format": {"template": "templates/t.mustache"}}}"#))

        // load(path:) reads the file itself; the working directory of the test runner is elsewhere.
        let config = try ConfigLoader(environment: [:]).load(path: configPath)
        #expect(config.sourcePath == configPath)
        #expect(config.store.ticketsDatabase == directory.url("data/app.sqlite"))
        #expect(config.store.stateDatabase == directory.url("etc/overdued/state.sqlite"))
        #expect(config.destinations.first?.format == .template(path: directory.url("etc/overdued/templates/t.mustache"), source: "T"))
    }

    /// The config's path and the tickets database's keep a symbolic link as written: a reload
    /// reads the file the link names then, and each tick compares the file the link names now
    /// with the one open, so a deployment that swaps the link is seen (it was followed once,
    /// at start, and the old target read for good).
    @Test func symbolicLinksInTheConfigAndTicketsPathsAreKept() throws {
        let fixture = try ConfigFixture()
        let directory = fixture.directory
        try directory.write("exports/2026-11-27.sqlite", "x")
        try directory.write("releases/v1/config.json", ConfigFixture.config(
            store: #"{"tickets_database": "tickets.sqlite", "state_database": "state.sqlite"}"#))
        try FileManager.default.createDirectory(atPath: directory.url("etc"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.url("etc/tickets.sqlite"), withDestinationPath: directory.url("exports/2026-11-27.sqlite"))
        try FileManager.default.createSymbolicLink(atPath: directory.url("etc/config.json"), withDestinationPath: directory.url("releases/v1/config.json"))
        let config = try ConfigLoader(environment: [:]).load(path: directory.url("etc/./config.json"))
        #expect(config.sourcePath == directory.url("etc/config.json"))
        // Relative names are read next to the link, where the operator sees the file.
        #expect(config.store.ticketsDatabase == directory.url("etc/tickets.sqlite"))
        #expect(config.store.stateDatabase.hasSuffix("/etc/state.sqlite"))
    }

    @Test func relativeSecretFilesResolveInTheCredentialsDirectory() throws {
        let fixture = try ConfigFixture()
        let credentials = try TemporaryDirectory()
        try credentials.write("chat-url", "https://credentials.example.com/from-systemd\n")
        try credentials.write("auth-header", "Bearer from-credentials\n")
        let json = ConfigFixture.hook(#"{"url_file": "chat-url", "headers": {"Authorization": {"file": "auth-header"}}}"#)

        let withCredentials = try fixture.load(json, environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        let hook = try #require(withCredentials.destination(named: "hook"))
        #expect(hook.url.value == "https://credentials.example.com/from-systemd")
        #expect(hook.headerList.first?.value.value == "Bearer from-credentials")
        // Databases still resolve next to the config file.
        #expect(withCredentials.store.ticketsDatabase == fixture.directory.url("tickets.sqlite"))

        let withoutCredentials = try fixture.load(json, environment: [:])
        #expect(withoutCredentials.destination(named: "hook")?.url.value == "https://chat.example.com/hooks/T0KEN-IN-PATH?key=s3cret")
        #expect(withoutCredentials.destination(named: "hook")?.headerList.first?.value.value == "Bearer header-t0ken")

        // An empty CREDENTIALS_DIRECTORY is ignored rather than meaning "/".
        let emptyVariable = try fixture.load(json, environment: ["CREDENTIALS_DIRECTORY": ""])
        #expect(emptyVariable.destination(named: "hook")?.url.value == withoutCredentials.destination(named: "hook")?.url.value)
    }

    @Test func aMissingSecretInTheCredentialsDirectoryIsNotLookedUpNextToTheConfig() throws {
        let fixture = try ConfigFixture()
        let credentials = try TemporaryDirectory()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url_file": "chat-url"}"#),
                                        environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        #expect(problems.map(\.path) == ["destinations.hook.url_file"])
        #expect(problems.first?.message.contains(credentials.path) == true)
    }

    @Test func secretsNeverShowTheirValue() throws {
        let secret = Secret("Bearer hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\([secret])".contains("hunter2"))

        let fixture = try ConfigFixture()
        let config = try fixture.load(Self.fullConfig)
        let printed = "\(config) \(String(reflecting: config))"
        for value in ["T0KEN", "token=abc", "header-t0ken", "s3cret", ConfigFixture.signingSecret] {
            #expect(!printed.contains(value), "\(value) appears in the printed config")
        }
    }

    @Test(arguments: [
        ("https://hooks.example.com/services/T0KEN?key=abc#frag", "https://hooks.example.com"),
        ("HTTP://LOCALHOST:8787/hook", "http://LOCALHOST:8787"),
        ("http://[::1]:8787/path", "http://[::1]:8787"),
        ("http://127.0.0.1:65535/p", "http://127.0.0.1:65535"),
    ])
    func redactedURLKeepsSchemeHostAndPortOnly(url: String, redacted: String) throws {
        let parsed = try WebhookURL(url)
        #expect(parsed.redacted == redacted)
        #expect(parsed.url.absoluteString == url)
        #expect(parsed.basicAuthorization == nil)
    }

    /// What a URL cannot hold is percent-encoded, and the escapes already there are kept, as
    /// curl sends it: one such character used to have the whole path or query encoded again
    /// (`%2B` sent as `%252B`, a signed token refused).
    @Test(arguments: [
        ("http://127.0.0.1:9/p?sig=Ab%2Bc%3D&name=équipe", "http://127.0.0.1:9/p?sig=Ab%2Bc%3D&name=%C3%A9quipe"),
        ("http://127.0.0.1:9/p%20a/é", "http://127.0.0.1:9/p%20a/%C3%A9"),
        ("https://h.example/p?sig=Ab%2Bc%3D&x=[1]", "https://h.example/p?sig=Ab%2Bc%3D&x=%5B1%5D"),
        ("https://h.example/a b|c?q=100%&r=%zz&s=%4", "https://h.example/a%20b%7Cc?q=100%25&r=%25zz&s=%254"),
        ("https://[::1]:8443/a%2Fb?x=%E2%9C%93", "https://[::1]:8443/a%2Fb?x=%E2%9C%93"),
    ])
    func invalidCharactersAreEncodedAndEscapesKept(url: String, sent: String) throws {
        #expect(try WebhookURL(url).url.absoluteString == sent)
        // What the destination requests: the URL as parsed, not the text parsed again.
        let fixture = try ConfigFixture()
        let config = try fixture.load(ConfigFixture.config(destinations: #"{"hook": {"url": "\#(url)"}}"#))
        #expect(config.destinations.first?.url.value == sent)
    }

    /// Credentials in the URL are sent as curl sends them (Basic, percent-decoded), and the
    /// URL requested no longer holds them.
    @Test func aUserAndPasswordInTheURLBecomeABasicAuthorization() throws {
        let parsed = try WebhookURL("https://us%40er:p%3Ass@hooks.example.com:8443/p?q=1")
        #expect(parsed.redacted == "https://hooks.example.com:8443")
        #expect(parsed.url.absoluteString == "https://hooks.example.com:8443/p?q=1")
        #expect(parsed.basicAuthorization == "Basic " + Data("us@er:p:ss".utf8).base64EncodedString())
        // A password with a letter it cannot hold as is and an escape: the escape is decoded
        // once (it was encoded again, and `%2F` sent as the three characters).
        let mixed = try WebhookURL("http://u:pé%2F@127.0.0.1:8799/sp2")
        #expect(mixed.basicAuthorization == "Basic " + Data("u:pé/".utf8).base64EncodedString())
        #expect(mixed.url.absoluteString == "http://127.0.0.1:8799/sp2")
    }

    /// `http://@host/` names no one: no header, and the URL is requested as written.
    @Test(arguments: ["http://@127.0.0.1:8787/x", "http://:@127.0.0.1:8787/x"])
    func anEmptyUserinfoSendsNoAuthorization(url: String) throws {
        let parsed = try WebhookURL(url)
        #expect(parsed.basicAuthorization == nil)
        #expect(parsed.redacted == "http://127.0.0.1:8787")
        #expect(parsed.url.absoluteString == "http://127.0.0.1:8787/x")
    }

    @Test func theURLsCredentialsAreSentAsAnAuthorizationHeaderUnlessOneIsSet() throws {
        let fixture = try ConfigFixture()
        let config = try fixture.load(ConfigFixture.hook(#"{"url": "https://robot:S3CRET@a.example.com/x", "headers": {"X-Team": "maint"}}"#))
        let hook = try #require(config.destinations.first)
        #expect(hook.url.value == "https://a.example.com/x")
        #expect(hook.headerList.map(\.name) == ["Authorization", "X-Team"])
        #expect(hook.headerList.first?.value.value == "Basic " + Data("robot:S3CRET".utf8).base64EncodedString())
        #expect(!"\(config) \(String(reflecting: config))".contains("S3CRET"))

        let both = fixture.problems(ConfigFixture.hook(#"{"url": "https://robot:S3CRET@a.example.com/x", "headers": {"authorization": "Bearer t"}}"#))
        #expect(both.map(\.path) == ["destinations.hook.headers.authorization"])
        #expect(both.first?.message.contains("give one or the other") == true)
    }

    @Test(arguments: ["ftp://example.com/x", "example.com/hook", "https://", "mailto:ops@example.com", "/var/run/hook", ""])
    func nonHTTPURLsAreRefused(url: String) {
        #expect(throws: WebhookURL.Problem.notHTTP) { try WebhookURL(url) }
    }

    /// A port no connection can use was accepted and then crashed every delivering command.
    @Test(arguments: [(65_536, "http://127.0.0.1:65536/x"), (70_000, "https://a.example.com:70000/"), (0, "http://127.0.0.1:0/x")])
    func aPortOutOfRangeIsRefusedWithItsPath(port: Int, url: String) throws {
        #expect(throws: WebhookURL.Problem.port(port)) { try WebhookURL(url) }
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url": "\#(url)"}"#))
        #expect(problems.map(\.path) == ["destinations.hook.url"])
        #expect(problems.first?.message == "has port \(port), which is not between 1 and 65535")
    }

    /// A port too large for the parser was dropped, the URL checked valid, and the request
    /// (its path's token, its signed body) went to port 80 of the host.
    @Test(arguments: ["http://127.0.0.1:99999999999999999999/hooks/T0KEN", "https://[::1]:123456789012345678901/x",
                      "http://u:p@a.example.com:99999999999999999999/x"])
    func aPortNoNumberCanHoldIsRefused(url: String) {
        #expect(throws: WebhookURL.Problem.badPort) { try WebhookURL(url) }
    }

    @Test(arguments: ["http://a.example.com:/x", "http://[::1]/x", "http://u:p@a.example.com/x"])
    func noPortIsTheSchemesDefault(url: String) throws {
        _ = try WebhookURL(url)
    }

    @Test func defaultConfigPathPrefersFlagThenEnvironment() {
        #expect(ConfigLoader.defaultPath(explicit: "/a.json", environment: ["OVERDUED_CONFIG": "/b.json"]) == "/a.json")
        #expect(ConfigLoader.defaultPath(explicit: nil, environment: ["OVERDUED_CONFIG": "/b.json"]) == "/b.json")
        #expect(ConfigLoader.defaultPath(explicit: "", environment: [:]) == "/etc/overdued/config.json")
    }

    @Test func aMissingConfigFileIsOneProblemNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("nope.json")
        do {
            _ = try ConfigLoader(environment: [:]).load(path: path)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.file == path)
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.message.contains("cannot read the config file") == true)
            #expect(error.description.contains(path))
        }
    }
}
