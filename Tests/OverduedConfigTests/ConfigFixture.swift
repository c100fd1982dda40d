import TestSupport
import Foundation
import OverduedConfig

/// A folder holding a config file and the files it names: the tickets database (any file
/// will do, the loader only checks that it is readable), secrets and a template.
struct ConfigFixture {
    let directory: TemporaryDirectory
    let configPath: String

    static let signingSecret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()

    init() throws {
        directory = try TemporaryDirectory()
        configPath = directory.url("config.json")
        try directory.write("tickets.sqlite", "not really a database; the loader only checks it exists")
        try directory.write("signing-secret", Self.signingSecret + "\n")
        try directory.write("chat-url", "https://chat.example.com/hooks/T0KEN-IN-PATH?key=s3cret\n")
        try directory.write("auth-header", "Bearer header-t0ken\n")
        try directory.write("templates/chat.mustache", "{{ticket_id}} is overdue")
        try directory.write("bad-secret", "not-a-standard-webhooks-secret\n")
        try directory.write("two-lines", "first\nsecond\n")
        try directory.write("control-character", "Bearer t0k\u{01}en\n")
        try FileManager.default.createDirectory(atPath: directory.url("state"), withIntermediateDirectories: true)
    }

    func load(_ json: String, environment: [String: String] = [:]) throws(ConfigError) -> Config {
        try ConfigLoader(environment: environment).load(data: Data(json.utf8), path: configPath)
    }

    /// The problems of an invalid config (an empty list when it loads: the test then fails
    /// on its expectations).
    func problems(_ json: String, environment: [String: String] = [:]) -> [ConfigProblem] {
        do {
            _ = try load(json, environment: environment)
            return []
        } catch {
            return error.problems
        }
    }

    // MARK: building configs from JSON fragments

    static let store = #"{"tickets_database": "tickets.sqlite", "state_database": "state/state.sqlite"}"#
    static let rules = #"[{"name": "overdue", "match": {"status_in": ["received", "diagnostic"], "assigned": true}, "destinations": ["hook"]}]"#
    static let destinations = #"{"hook": {"url": "https://hooks.example.com/x"}}"#

    /// A config from fragments; a nil section is left out. The defaults make a valid config.
    static func config(store: String? = ConfigFixture.store, schedule: String? = nil,
                       rules: String? = ConfigFixture.rules, destinations: String? = ConfigFixture.destinations,
                       log: String? = nil) -> String {
        var members: [String] = []
        if let store { members.append(#""store": \#(store)"#) }
        if let schedule { members.append(#""schedule": \#(schedule)"#) }
        if let rules { members.append(#""rules": \#(rules)"#) }
        if let destinations { members.append(#""destinations": \#(destinations)"#) }
        if let log { members.append(#""log": \#(log)"#) }
        return "{" + members.joined(separator: ", ") + "}"
    }

    /// A config whose one rule has this `match` (and optionally `repeat`).
    static func rule(match: String, repeat repeatPolicy: String? = nil) -> String {
        let repeatMember = repeatPolicy.map { #", "repeat": \#($0)"# } ?? ""
        return config(rules: #"[{"name": "overdue", "match": \#(match)\#(repeatMember), "destinations": ["hook"]}]"#)
    }

    /// A config whose one destination `hook` is this object.
    static func hook(_ destination: String) -> String {
        config(destinations: #"{"hook": \#(destination)}"#)
    }
}
