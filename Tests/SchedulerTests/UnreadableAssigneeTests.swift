import Foundation
import GRDB
import OverduedConfig
import Scheduler
import Store
import Testing

/// `assigned_to` holds a user id, NULL (unassigned) or 0 (the whole team). Text or a fraction
/// there ('abc', '', 1.5) names nobody: `assigned_to IS NOT NULL` is true of it, but the row
/// cannot say who is assigned, so it is skipped with one warning, never matched as assigned.
struct UnreadableAssigneeTests {
    static let past = OldRuleRows.past
    let database: AppDatabase
    let tickets: TicketsDatabase
    let outbox: Outbox

    init() throws {
        database = try AppDatabase((1...6).map { id in
            TicketRow(id: id, ticketID: "IGP-2026-000\(id)", status: "received", assignedTo: 1, scheduledDate: Self.past)
        })
        // As the app may write them: SQLite checks no foreign key unless asked to.
        var unchecked = Configuration()
        unchecked.foreignKeysEnabled = false
        let app = try DatabaseQueue(path: database.ticketsPath, configuration: unchecked)
        try app.write { db in
            try db.execute(sql: "UPDATE tickets SET assigned_to = 'abc' WHERE id = 2")
            try db.execute(sql: "UPDATE tickets SET assigned_to = '' WHERE id = 3")
            try db.execute(sql: "UPDATE tickets SET assigned_to = 1.5 WHERE id = 4")
            // Whole numbers written otherwise are ids (text with spaces), and 0 is the team.
            try db.execute(sql: "UPDATE tickets SET assigned_to = ' 2 ' WHERE id = 5")
            try db.execute(sql: "UPDATE tickets SET assigned_to = 0 WHERE id = 6")
        }
        try app.close()
        tickets = try database.tickets()
        outbox = try database.outbox()
    }

    static func rule(_ name: String, assigned: Bool?) throws -> RuleSpec {
        try RuleSpecs.make(name, MatchSpec(statusIn: ["received", "diagnostic"], assigned: assigned), destinations: ["automation"])
    }

    func scan(_ rules: [RuleSpec], cache: TickCache? = nil, detail: ScanDetail = .enqueued) throws -> ScanReport {
        try RulesEngine(rules: rules, timeZone: Instants.toronto)
            .scan(tickets: tickets, outbox: outbox, now: Instants.now, detail: detail, cache: cache)
    }

    @Test func anAssignedRuleSkipsThemWithOneWarningEachNamingTheValue() throws {
        let report = try scan([try Self.rule("old-rule", assigned: true)], detail: .all)
        #expect(Set(report.matches.map(\.ticket.ticket)) == [1, 5, 6])
        #expect(report.matches.first { $0.ticket.ticket == 5 }?.ticket.assignedTo == 2)
        #expect(report.matches.allSatisfy { $0.ticket.assignedTo != nil && $0.snapshot?.assignedTo != nil })
        #expect(report.badRows.map(\.ticket) == [2, 3, 4])
        let problems = Dictionary(uniqueKeysWithValues: report.badRows.map { ($0.ticket, $0.description) })
        #expect(problems[2]?.contains("IGP-2026-0002") == true)
        #expect(problems[2]?.contains("assigned_to \"abc\"") == true, "\(problems)")
        #expect(problems[3]?.contains("assigned_to \"\"") == true, "\(problems)")
        #expect(problems[4]?.contains("assigned_to \"1.5\"") == true, "\(problems)")
    }

    @Test func theyAreNeverUnassignedEither() throws {
        let report = try scan([try Self.rule("any", assigned: nil), try Self.rule("unassigned", assigned: false),
                               try Self.rule("old-rule", assigned: true)])
        #expect(!report.matches.contains { [2, 3, 4].contains($0.ticket.ticket) })
        #expect(report.badRows.map(\.ticket) == [2, 3, 4], "one warning per row, not one per rule")
        #expect(report.notifications.allSatisfy { ![2, 3, 4].contains($0.ticket) })
    }

    @Test func rowsReusedFromTheTickCacheAreStillSkipped() throws {
        let cache = TickCache()
        let rules = [try Self.rule("old-rule", assigned: true)]
        _ = try scan(rules, cache: cache)
        let again = try scan(rules, cache: cache)
        #expect(again.reusedQueries == 1)
        #expect(!again.matches.contains { [2, 3, 4].contains($0.ticket.ticket) })
    }
}

/// An `assigned: false` rule alone: SQL's `IS NULL` would leave the unreadable values out
/// before they are read, so they were neither matched nor warned about.
struct UnassignedRuleTests {
    @Test func anUnassignedRuleWarnsAboutEachUnreadableValueAndLeavesOutWhatReadsAsAUserID() throws {
        let base = try UnreadableAssigneeTests()
        let unchecked = try DatabaseQueue(path: base.database.ticketsPath)
        try unchecked.write { db in
            try db.execute(sql: "UPDATE tickets SET assigned_to = NULL WHERE id = 1")
            try db.execute(sql: "UPDATE tickets SET assigned_to = 2.0 WHERE id = 6")
        }
        try unchecked.close()
        for cache in [nil, TickCache()] {
            let report = try base.scan([try UnreadableAssigneeTests.rule("unassigned", assigned: false)], cache: cache, detail: .all)
            #expect(report.matches.map(\.ticket.ticket) == [1], "' 2 ' reads as a user id: assigned")
            #expect(report.badRows.map(\.ticket) == [2, 3, 4])
            #expect(report.badRows.first { $0.ticket == 2 }?.description.contains("assigned_to \"abc\"") == true)
        }
    }
}

extension UnassignedRuleTests {
    /// What the query selects for an `assigned: false` rule is a superset (SQL cannot tell
    /// `'7'` in a column without INTEGER affinity from a name): the engine itself leaves out
    /// every row that reads as assigned, the whole team included. Pure.
    @Test func theEngineLeavesOutWhatReadsAsAssigned() throws {
        let rule = try UnreadableAssigneeTests.rule("unassigned", assigned: false)
        let rows = [
            TicketCandidate(id: 1, ticketID: "A-1", status: "received", scheduledDate: OldRuleRows.past),
            TicketCandidate(id: 2, ticketID: "A-2", status: "received", assignedTo: 7, scheduledDate: OldRuleRows.past),
            TicketCandidate(id: 3, ticketID: "A-3", status: "received", assignedTo: 0, scheduledDate: OldRuleRows.past),
            TicketCandidate(id: 4, ticketID: "A-4", status: "received", scheduledDate: OldRuleRows.past, unreadableAssignedTo: "bob"),
            // Assigned, so not this rule's: its bad date is no concern of it.
            TicketCandidate(id: 5, ticketID: "A-5", status: "received", assignedTo: 7, scheduledDate: "demain"),
        ].map { DatedCandidate($0, zone: Instants.toronto) }
        let result = RulesEngine.overdue(rule: rule, candidates: rows, now: Instants.now)
        #expect(result.tickets.map(\.ticket) == [1])
        #expect(result.badRows.map(\.ticket) == [4])
    }
}

extension UnassignedRuleTests {
    /// A blob holding a whole number's text (`X'32'`) is that user id, as a text one is: a
    /// blob date is read as its text too. Before, its warning said `assigned_to "2" is not a user id`.
    @Test func aBlobHoldingAWholeNumberIsThatUserID() throws {
        let base = try UnreadableAssigneeTests()
        var unchecked = Configuration()
        unchecked.foreignKeysEnabled = false
        let app = try DatabaseQueue(path: base.database.ticketsPath, configuration: unchecked)
        try app.write { db in try db.execute(sql: "UPDATE tickets SET assigned_to = X'32' WHERE id = 1") }
        try app.close()
        let report = try base.scan([try UnreadableAssigneeTests.rule("old-rule", assigned: true)], detail: .all)
        #expect(report.matches.first { $0.ticket.ticket == 1 }?.ticket.assignedTo == 2, "\(report.matches.map(\.ticket))")
        #expect(!report.badRows.contains { $0.ticket == 1 })
    }
}
