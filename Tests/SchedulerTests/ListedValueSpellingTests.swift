import OverduedConfig
import Scheduler
import Store
import Testing

/// A listed status or priority that the tickets spell differently is named, with the path of
/// the listed value and how many tickets are left out; exact spellings give no warning.
struct ListedValueSpellingTests {
    typealias Count = TicketColumn.ValueCount

    static let statuses = [
        Count(value: "received", tickets: 40),
        Count(value: "Received ", tickets: 3),
        Count(value: "RECEIVED", tickets: 2),
        Count(value: "diagnostic", tickets: 9),
        Count(value: "re\u{E7}u", tickets: 5),          // "reçu", precomposed
        Count(value: "completed", tickets: 700),
    ]

    static func warnings(_ match: MatchSpec, statuses: [Count] = statuses, priorities: [Count] = []) throws -> [String] {
        let rule = try RuleSpecs.make("late", match, destinations: ["hook"])
        return ListedValueSpelling.warnings(rules: [rule], counts: [.status: statuses, .priority: priorities])
    }

    @Test func exactSpellingsGiveNoWarning() throws {
        #expect(try Self.warnings(MatchSpec(statusIn: ["diagnostic"], statusNotIn: ["completed"])).isEmpty)
    }

    @Test func variantsInCaseAndSpacesAreNamedWithTheirCounts() throws {
        let warnings = try Self.warnings(MatchSpec(statusIn: ["diagnostic", "received"]))
        #expect(warnings == [
            "rules[0].match.status_in[1]: \"received\" does not match the 5 tickets whose status is \"Received \" (3), "
                + "\"RECEIVED\" (2): statuses are compared exactly, and these differ in case, surrounding spaces or how an accent is encoded",
        ])
    }

    /// Swift's `==` holds for "reçu" precomposed and decomposed; SQLite's comparison does not.
    @Test func anotherEncodingOfAnAccentIsAVariant() throws {
        let decomposed = "rec\u{327}u"
        let warnings = try Self.warnings(MatchSpec(statusNotIn: [decomposed]))
        #expect(warnings.count == 1)
        // They would print the same: both show their code points.
        #expect(warnings.first?.hasPrefix("rules[0].match.status_not_in[0]: \"rec\\u{327}u\" does not match the 5 tickets whose status is \"re\\u{e7}u\"") == true,
                "\(warnings)")
    }

    @Test func aListedValueNoTicketHoldsGetsADidYouMean() throws {
        let warnings = try Self.warnings(MatchSpec(statusIn: ["recieved", "waiting_parts"]))
        #expect(warnings == ["rules[0].match.status_in[0]: no ticket has the status \"recieved\"; did you mean \"received\"?"])
    }

    @Test func prioritiesAreCheckedToo() throws {
        let warnings = try Self.warnings(MatchSpec(priorityIn: ["high"]),
                                         priorities: [Count(value: "High", tickets: 1), Count(value: "low", tickets: 8)])
        #expect(warnings == [
            "rules[0].match.priority_in[0]: \"high\" does not match the 1 ticket whose priority is \"High\": "
                + "priorities are compared exactly, and these differ in case, surrounding spaces or how an accent is encoded",
        ])
    }

    @Test func controlCharactersInAValueAreShownEscaped() throws {
        let warnings = try Self.warnings(MatchSpec(statusIn: ["received"]), statuses: [Count(value: "received\t", tickets: 1)])
        #expect(warnings.first?.contains("whose status is \"received\\u{9}\"") == true)
        // C1 controls and bidirectional overrides too, which some terminals act on (fuzzing:
        // they reached check-config's output raw).
        let guess = try Self.warnings(MatchSpec(statusIn: ["zzqueued"]), statuses: [Count(value: "zzqueue\u{202E}\u{9B}", tickets: 1)])
        #expect(guess.first?.hasSuffix("did you mean \"zzqueue\\u{202e}\\u{9b}\"?") == true, "\(guess)")
    }
}
