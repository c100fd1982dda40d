import OverduedConfig
import Store
@testable import Scheduler
import Testing

/// A date that looks right but does not read: the warning names the character that does not
/// show (a no-break space pasted from a document shows as a space in the quoted value).
struct InvisibleHintTests {
    @Test func aCharacterThatDoesNotShowIsNamed() {
        #expect(RulesEngine.invisibleHint("2026-11-24\u{A0}09:00:00")
                == " (character 11 is U+00A0 NO-BREAK SPACE, which shows as a space or not at all)")
        #expect(RulesEngine.invisibleHint("2026-11-24 09:00:00\u{200B}").contains("character 20 is U+200B ZERO WIDTH SPACE"))
        #expect(RulesEngine.invisibleHint("\u{FEFF}2026-11-24").contains("U+FEFF ZERO WIDTH NO-BREAK SPACE"))
        // Nothing hidden: nothing said (a letter shows; ASCII spaces show as what they are).
        #expect(RulesEngine.invisibleHint("24/11/2026").isEmpty)
        #expect(RulesEngine.invisibleHint("2026-11-24 09:00:00é").isEmpty)
        #expect(RulesEngine.invisibleHint("2026-11-24  09:00:00").isEmpty)
    }
}

/// A warning's line names the row by its human id only when it has one worth showing.
struct BadRowDescriptionTests {
    @Test func aBlankHumanIDIsLeftOutAndALongOneCut() {
        #expect(BadRow(ticket: 1, ticketID: "   ", problem: "p").description == "ticket 1: p")
        #expect(BadRow(ticket: 1, ticketID: "", problem: "p").description == "ticket 1: p")
        #expect(BadRow(ticket: 1, ticketID: "IGP-1", problem: "p").description == "ticket 1 (IGP-1): p")
        let long = BadRow(ticket: 2, ticketID: String(repeating: "x", count: 5_000), problem: "p").description
        #expect(long == "ticket 2 (\(String(repeating: "x", count: 60))…): p")
    }

    @Test func aNullHumanIDIsNamedSo() throws {
        let rule = try RuleSpecs.make("r", MatchSpec(), destinations: ["automation"])
        let rows = [TicketCandidate(id: 7, ticketID: nil, status: "received", scheduledDate: OldRuleRows.past),
                    TicketCandidate(id: 8, ticketID: "  ", status: "received", scheduledDate: OldRuleRows.past)]
            .map { DatedCandidate($0, zone: Instants.toronto) }
        let result = RulesEngine.overdue(rule: rule, candidates: rows, now: Instants.now)
        #expect(result.tickets.map(\.ticketID) == ["#7", "#8"])
        #expect(result.badRows.map(\.description) == ["ticket 7: ticket_id is NULL; its notifications name it #7",
                                                       "ticket 8: ticket_id is empty; its notifications name it #8"])
    }
}
