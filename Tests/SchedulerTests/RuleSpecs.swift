import Foundation
import OverduedConfig
import Testing
import TestSupport

/// Rules for tests. `RuleSpec` is only built by the config loader (a value of it has passed
/// validation), so a minimal config is loaded and its rule given the fields a test wants.
enum RuleSpecs {
    static func make(_ name: String, _ match: MatchSpec, repeat policy: RepeatSpec = RepeatSpec(),
                     destinations: [String]) throws -> RuleSpec {
        let directory = try TemporaryDirectory()
        try directory.write("tickets.sqlite", "")
        let json = #"""
            {"store": {"tickets_database": "tickets.sqlite", "state_database": "state.sqlite"},
             "rules": [{"name": "template", "destinations": ["hook"]}],
             "destinations": {"hook": {"url": "https://hooks.example.invalid/"}}}
            """#
        let config = try ConfigLoader(environment: [:]).load(data: Data(json.utf8), path: directory.url("config.json"))
        var rule = try #require(config.rules.first)
        rule.name = name
        rule.match = match
        rule.repeatPolicy = policy
        rule.destinations = destinations
        return rule
    }
}
