import Foundation
import OverduedConfig
import Testing

/// One broken config: the JSON path the problem must be reported at and a phrase of its
/// message. Each case has exactly one thing wrong, so it must report exactly one problem.
struct BrokenConfig: Sendable, CustomTestStringConvertible {
    var label: String
    var json: String
    var path: String
    var phrase: String

    var testDescription: String { label }

    static let cases: [BrokenConfig] = [
        BrokenConfig(label: "misspelt schedule key",
                     json: ConfigFixture.config(schedule: #"{"intervall": "5m"}"#),
                     path: "schedule.intervall", phrase: #"did you mean "interval"?"#),
        BrokenConfig(label: "misspelt match key",
                     json: ConfigFixture.rule(match: #"{"staus_in": ["received"]}"#),
                     path: "rules[0].match.staus_in", phrase: #"did you mean "status_in"?"#),
        BrokenConfig(label: "unknown top-level key",
                     json: #"{"stor": {}, "store": \#(ConfigFixture.store), "rules": \#(ConfigFixture.rules), "destinations": \#(ConfigFixture.destinations)}"#,
                     path: "stor", phrase: #"did you mean "store"?"#),
        BrokenConfig(label: "duration in words",
                     json: ConfigFixture.config(schedule: #"{"interval": "5 minutes"}"#),
                     path: "schedule.interval", phrase: "is not a duration"),
        BrokenConfig(label: "duration without unit",
                     json: ConfigFixture.config(schedule: #"{"interval": "10"}"#),
                     path: "schedule.interval", phrase: #"add one of ms, s, m, h, d (e.g. "10s")"#),
        BrokenConfig(label: "negative duration",
                     json: ConfigFixture.rule(match: #"{"grace": "-1s"}"#),
                     path: "rules[0].match.grace", phrase: #""-1s" is not a duration"#),
        BrokenConfig(label: "unknown duration unit",
                     json: ConfigFixture.rule(match: #"{"grace": "5x"}"#),
                     path: "rules[0].match.grace", phrase: #"unknown unit "x""#),
        BrokenConfig(label: "duration as a number",
                     json: ConfigFixture.config(schedule: #"{"interval": 300}"#),
                     path: "schedule.interval", phrase: "expected a duration string"),
        BrokenConfig(label: "interval below one second",
                     json: ConfigFixture.config(schedule: #"{"interval": "500ms"}"#),
                     path: "schedule.interval", phrase: #"must be at least "1s", found "500ms""#),
        BrokenConfig(label: "misspelt IANA zone",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "America/Torontoo"}"#),
                     path: "store.timezone", phrase: #"did you mean "America/Toronto"?"#),
        BrokenConfig(label: "fixed offset instead of a zone",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "+05:00"}"#),
                     path: "store.timezone", phrase: "is not an IANA time zone"),
        BrokenConfig(label: "negative fixed offset",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "-05:00"}"#),
                     path: "store.timezone", phrase: "a fixed offset would get daylight saving wrong"),
        BrokenConfig(label: "empty status_in",
                     json: ConfigFixture.rule(match: #"{"status_in": []}"#),
                     path: "rules[0].match.status_in", phrase: "is an empty list, which would match nothing"),
        BrokenConfig(label: "blank status (matches no ticket)",
                     json: ConfigFixture.rule(match: #"{"status_in": ["received", "  "]}"#),
                     path: "rules[0].match.status_in[1]", phrase: "expected a non-blank string, found only white space"),
        BrokenConfig(label: "status of a zero-width space",
                     json: ConfigFixture.rule(match: #"{"status_in": ["\u200b"]}"#),
                     path: "rules[0].match.status_in[0]", phrase: "found only white space or invisible characters"),
        BrokenConfig(label: "blank priority",
                     json: ConfigFixture.rule(match: #"{"priority_in": ["\t"]}"#),
                     path: "rules[0].match.priority_in[0]", phrase: "expected a non-blank string"),
        BrokenConfig(label: "empty destinations list (the key is required)",
                     json: ConfigFixture.config(rules: #"[{"name": "r", "destinations": []}]"#),
                     path: "rules[0].destinations", phrase: "is an empty list: list at least one value"),
        BrokenConfig(label: "status listed twice",
                     json: ConfigFixture.rule(match: #"{"status_in": ["received", "received"]}"#),
                     path: "rules[0].match.status_in[1]", phrase: #""received" is listed twice"#),
        BrokenConfig(label: "status_in and status_not_in overlap",
                     json: ConfigFixture.rule(match: #"{"status_in": ["received", "diagnostic"], "status_not_in": ["diagnostic", "archived"]}"#),
                     path: "rules[0].match.status_not_in", phrase: #"lists "diagnostic" which status_in also lists"#),
        BrokenConfig(label: "undefined destination",
                     json: ConfigFixture.config(rules: #"[{"name": "r", "destinations": ["hoook"]}]"#),
                     path: "rules[0].destinations[0]", phrase: #"destination "hoook" is not defined under "destinations"; did you mean "hook"?"#),
        BrokenConfig(label: "rule without destinations",
                     json: ConfigFixture.config(rules: #"[{"name": "r"}]"#),
                     path: "rules[0].destinations", phrase: "is required"),
        BrokenConfig(label: "duplicate rule name",
                     json: ConfigFixture.config(rules: #"[{"name": "r", "destinations": ["hook"]}, {"name": "r", "destinations": ["hook"]}]"#),
                     path: "rules[1].name", phrase: #""r" is already the name of another rule"#),
        BrokenConfig(label: "rule name with a space",
                     json: ConfigFixture.config(rules: #"[{"name": "my rule", "destinations": ["hook"]}]"#),
                     path: "rules[0].name", phrase: "may only hold letters, digits"),
        BrokenConfig(label: "missing rules",
                     json: ConfigFixture.config(rules: nil),
                     path: "rules", phrase: "is required"),
        BrokenConfig(label: "empty rules",
                     json: ConfigFixture.config(rules: "[]"),
                     path: "rules", phrase: "is empty"),
        BrokenConfig(label: "rules as an object",
                     json: ConfigFixture.config(rules: #"{"name": "r"}"#),
                     path: "rules", phrase: "expected a list of rules, found an object"),
        BrokenConfig(label: "missing store",
                     json: ConfigFixture.config(store: nil),
                     path: "store", phrase: "is required"),
        BrokenConfig(label: "string where a boolean belongs",
                     json: ConfigFixture.config(schedule: #"{"align": "true"}"#),
                     path: "schedule.align", phrase: "expected true or false, found a string"),
        BrokenConfig(label: "string where a boolean belongs in match",
                     json: ConfigFixture.rule(match: #"{"assigned": "yes"}"#),
                     path: "rules[0].match.assigned", phrase: "expected true or false, found a string"),
        BrokenConfig(label: "unreadable url_file",
                     json: ConfigFixture.hook(#"{"url_file": "missing-url"}"#),
                     path: "destinations.hook.url_file", phrase: "cannot read"),
        BrokenConfig(label: "url_file is a folder",
                     json: ConfigFixture.hook(#"{"url_file": "state"}"#),
                     path: "destinations.hook.url_file", phrase: "/state: it is a directory, not a file"),
        BrokenConfig(label: "url not http(s)",
                     json: ConfigFixture.hook(#"{"url": "ftp://hooks.example.com/x"}"#),
                     path: "destinations.hook.url", phrase: "is not an http:// or https:// URL with a host"),
        BrokenConfig(label: "url without host",
                     json: ConfigFixture.hook(#"{"url": "https:///path"}"#),
                     path: "destinations.hook.url", phrase: "is not an http:// or https:// URL"),
        BrokenConfig(label: "url file holding a non-URL",
                     json: ConfigFixture.hook(#"{"url_file": "auth-header"}"#),
                     path: "destinations.hook.url_file", phrase: "is not an http:// or https:// URL"),
        BrokenConfig(label: "both url and url_file",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "url_file": "chat-url"}"#),
                     path: "destinations.hook.url_file", phrase: "either url or url_file, not both"),
        BrokenConfig(label: "neither url nor url_file",
                     json: ConfigFixture.hook(#"{"timeout": "5s"}"#),
                     path: "destinations.hook.url", phrase: "is required"),
        BrokenConfig(label: "bad signing secret",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "signing_secret_file": "bad-secret"}"#),
                     path: "destinations.hook.signing_secret_file", phrase: "does not hold a Standard Webhooks secret"),
        BrokenConfig(label: "missing tickets database",
                     json: ConfigFixture.config(store: #"{"tickets_database": "nope.sqlite", "state_database": "state/s.sqlite"}"#),
                     path: "store.tickets_database", phrase: "does not exist"),
        BrokenConfig(label: "tickets database is a folder",
                     json: ConfigFixture.config(store: #"{"tickets_database": "state", "state_database": "state/s.sqlite"}"#),
                     path: "store.tickets_database", phrase: "is a folder"),
        BrokenConfig(label: "state database in a missing folder",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "no-such-dir/s.sqlite"}"#),
                     path: "store.state_database", phrase: "does not exist; create it"),
        BrokenConfig(label: "state database is the tickets database",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "./tickets.sqlite"}"#),
                     path: "store.state_database", phrase: "must not be the tickets database"),
        BrokenConfig(label: "invalid JSON",
                     json: #"{"store": {"tickets_database": "tickets.sqlite",}"#,
                     path: "", phrase: "the file is not valid JSON"),   // a subject also in the reload's one-line refusal
        BrokenConfig(label: "trailing comma, which Foundation's decoder takes and jq refuses",
                     json: "{\"store\": {\"tickets_database\": \"tickets.sqlite\",\n}}",
                     path: "", phrase: "is not valid JSON: line 2, column 1: a comma before '}': JSON allows no trailing comma"),
        BrokenConfig(label: "top level is a list",
                     json: "[]",
                     path: "", phrase: "expected an object, found a list"),
        BrokenConfig(label: "reserved header",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"webhook-id": "x"}}"#),
                     path: "destinations.hook.headers.webhook-id", phrase: "overdued sets webhook-id itself"),
        BrokenConfig(label: "reserved header in other case",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Content-Type": "text/plain"}}"#),
                     path: "destinations.hook.headers.Content-Type", phrase: "overdued sets Content-Type itself"),
        BrokenConfig(label: "header from a missing file",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization": {"file": "no-token"}}}"#),
                     path: "destinations.hook.headers.Authorization.file", phrase: "cannot read"),
        BrokenConfig(label: "header value with a line break",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"X-Token": {"file": "two-lines"}}}"#),
                     path: "destinations.hook.headers.X-Token", phrase: "holds a line break"),
        // "\r\n" is one Swift Character, equal to neither "\r" nor "\n": it once passed.
        BrokenConfig(label: "inline header value with CR LF",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"X-Team": "a\r\nb"}}"#),
                     path: "destinations.hook.headers.X-Team", phrase: "holds a line break"),
        BrokenConfig(label: "header value from a file with a control character",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization": {"file": "control-character"}}}"#),
                     path: "destinations.hook.headers.Authorization", phrase: "holds a control character (U+0001)"),
        BrokenConfig(label: "inline header value with DEL",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"X-Team": "a\u007Fb"}}"#),
                     path: "destinations.hook.headers.X-Team", phrase: "holds a control character (U+007F)"),
        // JSON decoders keep one of two equal keys silently.
        BrokenConfig(label: "a store key written twice",
                     json: ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/state.sqlite", "tickets_database": "missing.sqlite"}"#),
                     path: "store.tickets_database", phrase: "is written twice (again on line 1)"),
        BrokenConfig(label: "a destination url written twice",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "url": "https://b.example.com/"}"#),
                     path: "destinations.hook.url", phrase: "is written twice"),
        BrokenConfig(label: "a rule's name written twice",
                     json: ConfigFixture.config(rules: #"[{"name": "a", "name": "b", "match": {"status_in": ["received"]}, "destinations": ["hook"]}]"#),
                     path: "rules[0].name", phrase: "is written twice"),
        BrokenConfig(label: "a key written twice, once with an escape (jq and Python keep the last, Foundation the first)",
                     json: ConfigFixture.config(schedule: #"{"interval": "5m", "align": true, "\u0061lign": false}"#),
                     path: "schedule.align", phrase: "is written twice"),
        BrokenConfig(label: "a number JSON allows and a double cannot hold",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "concurrency": 1e400}"#),
                     path: "", phrase: "is not valid JSON: line 1, column 293: a number beyond what a double holds"),
        BrokenConfig(label: "invalid header name",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"X Token": "v"}}"#),
                     path: "destinations.hook.headers.X…", phrase: "is not a valid HTTP header name: it holds a space after \"X\""),
        BrokenConfig(label: "a whole header line pasted as the name: its value is not shown",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization: Bearer xoxb-SECRET": "v"}}"#),
                     path: "destinations.hook.headers.Authorization…", phrase: "it holds \":\" after \"Authorization\""),
        BrokenConfig(label: "max_backoff below initial_backoff",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "retry": {"initial_backoff": "10s", "max_backoff": "1s"}}"#),
                     path: "destinations.hook.retry.max_backoff", phrase: "must be at least initial_backoff (10s)"),
        BrokenConfig(label: "max_backoff below the default initial_backoff",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "retry": {"max_backoff": "1s"}}"#),
                     path: "destinations.hook.retry.max_backoff", phrase: "must be at least initial_backoff (5s)"),
        BrokenConfig(label: "max_attempts zero",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "retry": {"max_attempts": 0}}"#),
                     path: "destinations.hook.retry.max_attempts", phrase: "must be between 1 and 10000, found 0"),
        BrokenConfig(label: "max_attempts far too large",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "retry": {"max_attempts": 1e30}}"#),
                     path: "destinations.hook.retry.max_attempts", phrase: "must be between 1 and 10000, found 1e+30"),
        BrokenConfig(label: "concurrency zero",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "concurrency": 0}"#),
                     path: "destinations.hook.concurrency", phrase: "must be between 1 and 256, found 0"),
        BrokenConfig(label: "fractional concurrency",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "concurrency": 1.5}"#),
                     path: "destinations.hook.concurrency", phrase: "expected a whole number, found 1.5"),
        BrokenConfig(label: "timeout below 100ms",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "timeout": "10ms"}"#),
                     path: "destinations.hook.timeout", phrase: "must be at least"),
        BrokenConfig(label: "unknown on_change field",
                     json: ConfigFixture.rule(match: "{}", repeat: #"{"on_change": ["asigned_to"]}"#),
                     path: "rules[0].repeat.on_change[0]", phrase: #"did you mean "assigned_to"?"#),
        BrokenConfig(label: "repeat every zero",
                     json: ConfigFixture.rule(match: "{}", repeat: #"{"every": "0s"}"#),
                     path: "rules[0].repeat.every", phrase: #"must be at least "1s""#),
        BrokenConfig(label: "missing template file",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "format": {"template": "templates/missing.mustache"}}"#),
                     path: "destinations.hook.format.template", phrase: "cannot read the template"),
        BrokenConfig(label: "signing secret file is a directory",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "signing_secret_file": "state"}"#),
                     path: "destinations.hook.signing_secret_file", phrase: "it is a directory, not a file"),
        BrokenConfig(label: "header file is a directory",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization": {"file": "state"}}}"#),
                     path: "destinations.hook.headers.Authorization.file", phrase: "it is a directory, not a file"),
        BrokenConfig(label: "template is a directory",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "format": {"template": "templates"}}"#),
                     path: "destinations.hook.format.template", phrase: "it is a directory, not a file"),
        BrokenConfig(label: "misspelt format",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "format": "legasy"}"#),
                     path: "destinations.hook.format", phrase: #"did you mean "legacy"?"#),
        BrokenConfig(label: "unknown destination key",
                     json: ConfigFixture.hook(#"{"url": "https://a.example.com/", "min_intervall": "1s"}"#),
                     path: "destinations.hook.min_intervall", phrase: #"did you mean "min_interval"?"#),
        BrokenConfig(label: "bad destination name",
                     json: #"{"store": \#(ConfigFixture.store), "rules": [{"name": "r", "destinations": ["hook"]}], "destinations": {"hook": {"url": "https://a.example.com/"}, "my hook": {"url": "https://a.example.com/"}}}"#,
                     path: "destinations.my hook", phrase: "may only hold letters, digits"),
        BrokenConfig(label: "unknown log level",
                     json: ConfigFixture.config(log: #"{"level": "eror"}"#),
                     path: "log.level", phrase: #"did you mean "error"?"#),
        BrokenConfig(label: "unknown log target",
                     json: ConfigFixture.config(log: #"{"target": "syslog"}"#),
                     path: "log.target", phrase: "is not one of auto, journal, stderr"),
        BrokenConfig(label: "empty tickets database path",
                     json: ConfigFixture.config(store: #"{"tickets_database": " ", "state_database": "state/s.sqlite"}"#),
                     path: "store.tickets_database", phrase: "must not be empty"),
    ]
}

struct ConfigProblemTests {
    @Test(arguments: BrokenConfig.cases)
    func eachBrokenConfigNamesItsPathAndWhy(_ broken: BrokenConfig) throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(broken.json)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first { $0.path == broken.path }, "no problem at \(broken.path): \(problems)")
        #expect(problem.message.contains(broken.phrase), "\(problem.message)")
    }

    @Test func aRefusedHeaderValueIsNeverQuoted() throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization": {"file": "control-character"}, "X-Team": "s3cr3t\r\nvalue"}}"#))
        #expect(problems.count == 2, "\(problems)")
        for problem in problems {
            #expect(!problem.message.contains("t0k") && !problem.message.contains("s3cr3t"), "\(problem.message)")
        }
    }

    /// `"Authorization: Bearer …"` pasted as a header's name: the problem (printed by
    /// `check-config`, logged to the journal by a refused reload) names it without its token.
    @Test func aHeaderLinePastedAsANameKeepsItsTokenOutOfTheProblem() throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url": "https://a.example.com/", "headers": {"Authorization: Bearer xoxb-SECRET42": "v", "X-Key\u0007xyzSECRET43": "w"}}"#))
        #expect(problems.count == 2, "\(problems)")
        for problem in problems {
            #expect(!problem.description.contains("SECRET"), "\(problem.description)")
        }
        #expect(problems.map(\.path).sorted() == ["destinations.hook.headers.Authorization…", "destinations.hook.headers.X-Key…"])
    }

    /// Foundation says only "The operation could not be completed. (NSCocoaErrorDomain error
    /// 256.)" for a directory; the message must say what is wrong, at its path.
    @Test func aDirectoryGivenAsAFileIsSaidToBeOne() throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.hook(#"{"url": "https://a.example.com/", "signing_secret_file": "state"}"#))
        #expect(problems.map(\.description) == ["destinations.hook.signing_secret_file: cannot read \(fixture.directory.url("state")): it is a directory, not a file"])
        do {
            _ = try ConfigLoader().load(path: fixture.directory.url("state"))
            Issue.record("a directory loaded as a config")
        } catch {
            #expect(error.problems.map(\.message) == ["cannot read the config file: it is a directory, not a file"])
        }
    }

    /// A FIFO at the config's path (a reload while someone pipes into it, say) is refused at
    /// once with what it is, instead of a read that waits for a writer or a wrong reason.
    @Test func aFIFOGivenAsTheConfigIsSaidToBeOne() throws {
        let fixture = try ConfigFixture()
        let fifo = fixture.directory.url("config.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        do {
            _ = try ConfigLoader().load(path: fifo)
            Issue.record("a FIFO loaded as a config")
        } catch {
            #expect(error.problems.map(\.message) == ["cannot read the config file: it is not a regular file (a FIFO, socket or device)"])
        }
    }

    /// A config far larger than any config (or /dev/zero, asked for on purpose) is refused,
    /// not read to its end: a reload naming one did not end.
    @Test func aConfigLargerThanAnyConfigIsRefused() throws {
        let fixture = try ConfigFixture()
        let large = fixture.directory.url("large.json")
        #expect(FileManager.default.createFile(atPath: large, contents: nil))
        #expect(truncate(large, off_t(ConfigLoader.largestNamedFile + 1)) == 0)
        for path in [large, "/dev/zero"] {
            do {
                _ = try ConfigLoader().load(path: path)
                Issue.record("\(path) loaded as a config")
            } catch {
                #expect(error.problems.map(\.message) == ["cannot read the config file: it is more than the 4 MiB a config may be"], "\(path)")
            }
        }
    }

    /// Files a destination names (certificate, key, secret, template) that are no regular file
    /// or are far too large: a FIFO or /dev/zero was read as "permission denied" (or blocked),
    /// a link loop said "NSCocoaErrorDomain error 256", and a 270 MB file kept a reload busy
    /// for minutes. Each is said, at its field, before any read.
    @Test func aNamedFileThatIsNoRegularFileOrTooLargeIsSaidToBeOne() throws {
        let fixture = try ConfigFixture()
        let folder = fixture.directory
        #expect(mkfifo(folder.url("ca.fifo"), 0o600) == 0)
        #expect(symlink("loop-b.pem", folder.url("loop-a.pem")) == 0 && symlink("loop-a.pem", folder.url("loop-b.pem")) == 0)
        let large = folder.url("large.pem")
        #expect(FileManager.default.createFile(atPath: large, contents: nil))
        #expect(truncate(large, off_t(ConfigLoader.largestNamedFile + 1)) == 0)
        let cases: [(String, String, String)] = [
            (#""tls": {"ca_file": "ca.fifo"}"#, "destinations.hook.tls.ca_file", "\(folder.url("ca.fifo")): it is not a regular file (a FIFO, socket or device)"),
            (#""tls": {"ca_file": "/dev/zero"}"#, "destinations.hook.tls.ca_file", "/dev/zero: it is not a regular file (a FIFO, socket or device)"),
            (#""tls": {"ca_file": "loop-a.pem"}"#, "destinations.hook.tls.ca_file", "\(folder.url("loop-a.pem")): Too many levels of symbolic links"),
            (#""tls": {"ca_file": "large.pem"}"#, "destinations.hook.tls.ca_file", "\(large): it is \(ConfigLoader.largestNamedFile + 1) bytes, more than the 4 MiB a file named in the config may be"),
            (#""signing_secret_file": "ca.fifo""#, "destinations.hook.signing_secret_file", "it is not a regular file (a FIFO, socket or device)"),
            (#""format": {"template": "large.pem"}"#, "destinations.hook.format.template", "more than the 4 MiB a file named in the config may be"),
        ]
        for (member, path, phrase) in cases {
            let problems = fixture.problems(ConfigFixture.hook(#"{"url": "https://a.example.com/", "# + member + "}"))
            #expect(problems.count == 1 && problems.first?.path == path && problems.first?.message.contains(phrase) == true, "\(member): \(problems)")
        }
    }

    @Test func casesAreDistinct() {
        #expect(BrokenConfig.cases.count >= 20)
        #expect(Set(BrokenConfig.cases.map(\.label)).count == BrokenConfig.cases.count)
        #expect(Set(BrokenConfig.cases.map(\.json)).count == BrokenConfig.cases.count)
    }

    @Test func everyProblemOfOneFileIsReportedAtOnce() throws {
        let fixture = try ConfigFixture()
        let json = #"""
        {
          "store": { "tickets_database": "missing.sqlite", "state_database": "state/s.sqlite", "timezone": "America/Torontoo" },
          "schedule": { "intervall": "5m", "align": "yes" },
          "rules": [
            { "name": "a", "match": { "status_in": [], "grace": "5x" }, "destinations": ["hoook"] },
            { "name": "b", "repeat": { "on_change": ["colour"] }, "destinations": ["hook"] }
          ],
          "destinations": { "hook": { "url": "ftp://x.example.com/", "concurrency": 0, "headers": { "webhook-id": "1" } } },
          "log": { "level": "loud" }
        }
        """#
        let problems = fixture.problems(json)
        let expected: Set<String> = [
            "store.tickets_database", "store.timezone", "schedule.intervall", "schedule.align",
            "rules[0].match.status_in", "rules[0].match.grace", "rules[0].destinations[0]", "rules[1].repeat.on_change[0]",
            "destinations.hook.url", "destinations.hook.concurrency", "destinations.hook.headers.webhook-id", "log.level",
        ]
        #expect(Set(problems.map(\.path)) == expected, "\(problems)")
        #expect(problems.count == expected.count)

        do {
            _ = try fixture.load(json)
            Issue.record("an invalid config loaded")
        } catch {
            #expect(error.file == fixture.configPath)
            #expect(error.description.hasPrefix("\(fixture.configPath): \(expected.count) problems"))
            #expect(error.description.contains("  - rules[0].match.status_in: is an empty list"))
        }
    }

    @Test func problemDescriptionsLeadWithTheirPath() {
        #expect(ConfigProblem(path: "rules[1].match.status_in", message: "is wrong").description == "rules[1].match.status_in: is wrong")
        #expect(ConfigProblem(path: "", message: "is not valid JSON").description == "is not valid JSON")
        #expect(ConfigError(file: "/c.json", problems: [ConfigProblem(path: "a", message: "b")]).description == "/c.json: 1 problem\n  - a: b")
    }

    @Test func problemsNeverEchoASecretURL() throws {
        let fixture = try ConfigFixture()
        try fixture.directory.write("secret-url", "gopher://T0KEN@hooks.example.com/s3cret\n")
        let problems = fixture.problems(ConfigFixture.hook(#"{"url_file": "secret-url"}"#))
        #expect(problems.map(\.path) == ["destinations.hook.url_file"])
        #expect(!problems.description.contains("T0KEN"))
        #expect(!problems.description.contains("s3cret"))
    }

    @Test(arguments: ["America/Toronto", "Europe/Paris", "Asia/Kolkata", "Asia/Calcutta", "US/Eastern", "America/Nuuk"])
    func ianaZonesAreAccepted(zone: String) throws {
        let fixture = try ConfigFixture()
        let config = try fixture.load(ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "\#(zone)"}"#))
        #expect(config.store.timeZone.identifier == zone)
    }

    @Test(arguments: ["UTC", "Etc/UTC", "GMT"])
    func utcIsAccepted(zone: String) throws {
        let fixture = try ConfigFixture()
        let config = try fixture.load(ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "\#(zone)"}"#))
        let summer = Date(timeIntervalSince1970: 1_784_000_000)
        #expect(config.store.timeZone.secondsFromGMT(for: summer) == 0)
        #expect(config.store.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_795_000_000)) == 0)
    }

    /// Fixed offsets (whatever their spelling) and POSIX-style names are refused: the naive dates
    /// of a zone with daylight saving would be read an hour off for half the year.
    @Test(arguments: [
        ("+05:00", nil), ("-05:00", nil), ("GMT+5", nil), ("Etc/GMT+5", nil), ("EST", nil), ("SystemV/EST5", nil),
        ("america/toronto", "America/Toronto"), ("Europe/Pariss", "Europe/Paris"), ("Toronto", "America/Toronto"),
        ("new york", "America/New_York"), ("Paris", "Europe/Paris"),
    ] as [(String, String?)])
    func nonIANAZonesAreRefused(zone: String, suggestion: String?) throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "\#(zone)"}"#))
        #expect(problems.map(\.path) == ["store.timezone"])
        let message = try #require(problems.first?.message)
        #expect(message.contains("is not an IANA time zone"))
        if let suggestion {
            #expect(message.contains(#"did you mean "\#(suggestion)"?"#), "\(message)")
        }
    }

    /// The zone database's old names without a place are zones with their rules, not
    /// offsets: refused for their ambiguity, and said to be what they are (no "GMT" offered
    /// for "MET" by spelling).
    @Test(arguments: [("CET", "Europe/Paris"), ("EST5EDT", nil), ("MET", nil), ("Poland", nil), ("NZ", nil), ("Japan", nil),
                      ("W-SU", nil), ("Zulu", "\"UTC\"")] as [(String, String?)])
    func anOldZoneNameWithoutAPlaceIsSaidToBeOne(zone: String, place: String?) throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "\#(zone)"}"#))
        #expect(problems.map(\.path) == ["store.timezone"])
        let message = try #require(problems.first?.message)
        #expect(message.hasPrefix(#""\#(zone)" is an old name of the zone database, without a place; write the Area/Location name"#), "\(message)")
        #expect(!message.contains("GMT") && !message.contains("fixed offset"), "\(message)")
        if let place { #expect(message.contains(place), "\(message)") }
    }

    /// "EST" (a fixed UTC-5 in the zone database) is the commonest way to mean Eastern time;
    /// the message says it is an abbreviation and names a place's zone, not "GMT", the
    /// closest spelling.
    @Test(arguments: [("EST", "America/New_York"), ("edt", "America/New_York"), ("PST", "America/Los_Angeles")])
    func anAbbreviationIsSaidToBeOne(abbreviation: String, place: String) throws {
        let fixture = try ConfigFixture()
        let problems = fixture.problems(ConfigFixture.config(store: #"{"tickets_database": "tickets.sqlite", "state_database": "state/s.sqlite", "timezone": "\#(abbreviation)"}"#))
        let message = try #require(problems.first?.message)
        #expect(message.hasSuffix(#"; "\#(abbreviation)" is an abbreviation, not a place: write the zone of the place, such as "\#(place)""#), "\(message)")
        #expect(!message.contains("GMT"))
    }
}
