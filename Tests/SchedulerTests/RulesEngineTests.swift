import Foundation
import OverduedConfig
import Scheduler
import Store
import Testing
import TestSupport

struct RulesEngineTests {
    static let oldMatch = MatchSpec(statusIn: ["received", "diagnostic"], assigned: true)

    static func rule(_ name: String = "old-rule", _ match: MatchSpec = oldMatch, repeat policy: RepeatSpec = RepeatSpec(),
                     destinations: [String] = ["automation"]) throws -> RuleSpec {
        try RuleSpecs.make(name, match, repeat: policy, destinations: destinations)
    }

    static func scan(_ rules: [RuleSpec], on database: AppDatabase, now: Date = Instants.now) throws -> ScanReport {
        try RulesEngine(rules: rules, timeZone: Instants.toronto)
            .scan(tickets: try database.tickets(), outbox: try database.outbox(), now: now)
    }

    static func ids(_ report: ScanReport, rule: String? = nil) -> Set<Int64> {
        Set(report.matches.filter { rule == nil || $0.rule == rule }.map(\.ticket.ticket))
    }

    @Test func theOldRuleSelectsExactlyWhatItUsedTo() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule()], on: database)

        #expect(Self.ids(report) == OldRuleRows.oldRuleSelects)
        #expect(report.matches.count == OldRuleRows.oldRuleSelects.count, "one match per ticket")
        #expect(Set(report.badRows.map(\.ticket)) == OldRuleRows.oldRuleBadRows)
        #expect(report.matches.allSatisfy { $0.isEnqueued && $0.decision.shouldNotify })
        #expect(report.notifications.count == OldRuleRows.oldRuleSelects.count)
        #expect(report.dedupRecords.count == OldRuleRows.oldRuleSelects.count)
        #expect(report.now == Instants.now)

        let byTicket = Dictionary(uniqueKeysWithValues: report.matches.map { ($0.ticket.ticket, $0) })
        let first = try #require(byTicket[1])
        #expect(first.overdueSeconds == 7_200)
        #expect(first.ticket.dueAt == (try Instants.utc("2026-11-24T13:00:00Z")))
        #expect(first.ticket.scheduledDate == "2026-11-24 08:00:00", "kept as stored")
        #expect(first.snapshot == nil, "a tick keeps the snapshot once, in the notification")
        let encoded = try #require(report.notifications.first { $0.ticket == 1 }?.snapshot, "an enqueued match carries the whole ticket")
        let snapshot = try TicketSnapshot.decode(encoded)
        #expect(snapshot.assigneeName == "Marie Tremblay")
        #expect(snapshot.reporterName == "Luc Côté")
        #expect(snapshot.machine == TicketSnapshot.Machine(id: 1, type: "Presse", model: "PH-450", location: "Atelier 2"))
        #expect(snapshot.detectedAt == Instants.now)
        #expect(snapshot.dueAt == first.ticket.dueAt)
        #expect(first.destinations == ["automation"])

        let team = try #require(byTicket[2])
        #expect(team.ticket.assignedTo == 0)
        let teamSnapshot = try #require(report.notifications.first { $0.ticket == 2 }?.snapshot)
        #expect(try TicketSnapshot.decode(teamSnapshot).assigneeName == "👥 Toute l'équipe")
        #expect(team.ticket.ticketID == "IGP-PRESSE-PH 450-20261101-002")

        #expect(byTicket[7]?.ticket.dueAt == (try Instants.utc("2026-11-24T04:59:59Z")), "date only: end of the local day")
        #expect(byTicket[15]?.overdueSeconds == 60)
        #expect(byTicket[23]?.overdueSeconds == 1_800)
    }

    @Test func assignedFalseSelectsOnlyUnassignedTickets() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule("unassigned", MatchSpec(statusIn: ["received", "diagnostic"], assigned: false))], on: database)
        #expect(Self.ids(report) == [3])
        #expect(report.matches.allSatisfy { $0.ticket.assignedTo == nil })
    }

    @Test func withoutAssignedBothKindsAreSelected() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule("any", MatchSpec(statusIn: ["received", "diagnostic"]))], on: database)
        #expect(Self.ids(report) == OldRuleRows.oldRuleSelects.union([3]))
    }

    @Test func graceDelaysTheOverdueMoment() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        var match = Self.oldMatch
        match.grace = .seconds(3_600)
        let report = try Self.scan([try Self.rule("grace", match)], on: database)
        // Overdue by more than an hour: 1 (2 h), 2, 7, 16. Not 8 and 23 (30 min), 15 (1 min), 20 (59 min 59.5 s).
        #expect(Self.ids(report) == [1, 2, 7, 16])
        // overdue_seconds counts from the scheduled date, not from the end of the grace.
        #expect(report.matches.first { $0.ticket.ticket == 1 }?.overdueSeconds == 7_200)

        let later = try Self.scan([try Self.rule("grace", match)], on: database, now: Instants.now.addingTimeInterval(3_600))
        #expect(Self.ids(later) == [1, 2, 7, 8, 15, 16, 20, 23], "row 24 is due at 15:00Z: exactly the grace, not more")
    }

    /// A grace of days moves the SQL bound as much as the overdue test: a ticket overdue by
    /// an hour past a long grace is read and matched, whichever index drives the rule's query
    /// (with the 18 h slack of the bound, only a grace of a day or more tells a bound that
    /// subtracted the grace twice).
    @Test(arguments: [259_200.0, 2_592_000.0])  // 3 days, 30 days
    func aLongGraceStillFindsTheTicketsPastIt(grace: Double) throws {
        func at(_ seconds: Double) -> String {
            ISO8601DateFormatter().string(from: Instants.now.addingTimeInterval(-seconds))
        }
        let database = try AppDatabase([
            TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", assignedTo: 1, scheduledDate: at(grace + 3_600)),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", status: "received", assignedTo: 1, scheduledDate: at(grace - 3_600)),
        ])
        for match in [MatchSpec(statusIn: ["received"]), MatchSpec(statusNotIn: ["completed"]), MatchSpec()] {
            var match = match
            match.grace = .seconds(grace)
            let report = try Self.scan([try Self.rule("grace", match)], on: database)
            #expect(Self.ids(report) == [1], "\(match)")
        }
    }

    @Test func aCustomStatusWorksInStatusIn() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule("private", MatchSpec(statusIn: ["private"]))], on: database)
        #expect(Self.ids(report) == [14])
    }

    @Test func statusValuesAreBoundNotSplicedIntoTheSQL() throws {
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["it's"], priorityIn: ["x'); DROP TABLE tickets; --"]),
                                      now: Instants.now, schema: TicketSchema())
        #expect(!filter.sql.contains("it's"))
        #expect(!filter.sql.contains("DROP"))
        #expect(filter.arguments.contains(.text("it's")))
        #expect(filter.arguments.contains(.text("x'); DROP TABLE tickets; --")))

        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule("quoted", MatchSpec(statusIn: ["it's"]))], on: database)
        #expect(Self.ids(report) == [18])
        let notIn = try Self.scan([try Self.rule("quoted", MatchSpec(statusNotIn: ["it's"], priorityIn: ["high"]))], on: database)
        #expect(!Self.ids(notIn).contains(18))
        #expect(Self.ids(notIn).contains(4))
    }

    @Test func softDeletedTicketsAreExcludedUnlessIncluded() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        #expect(!Self.ids(try Self.scan([try Self.rule()], on: database)).contains(9))
        var match = Self.oldMatch
        match.includeDeleted = true
        #expect(Self.ids(try Self.scan([try Self.rule("with-deleted", match)], on: database)) == OldRuleRows.oldRuleSelects.union([9]))
    }

    @Test func statusNotInAndPriorityInFilter() throws {
        var rows = OldRuleRows.rows
        rows[0].priority = "low"
        let database = try AppDatabase(rows)
        let report = try Self.scan([try Self.rule("open", MatchSpec(statusNotIn: ["completed", "archived"], assigned: true,
                                                                priorityIn: ["high", "critical"]))], on: database)
        #expect(Self.ids(report) == [2, 4, 7, 8, 14, 15, 16, 18, 20, 23])
        // The date index drives this rule; words like "demain" are still found and warned about.
        #expect(Set(report.badRows.map(\.ticket)).isSuperset(of: [10, 16, 17]))
        #expect(!report.badRows.contains { $0.ticket == 25 }, "archived: excluded by status_not_in")
    }

    /// A rule the `scheduled_date` index drives (no `status_in`; `status_not_in` where the app
    /// has no status index) finds garbage that starts with digits and sorts after the date
    /// bound (`24/11/2026`, `2026/11/24`) as well as words, and warns about each: before, it
    /// left them out unseen.
    @Test func aRuleTheDateIndexDrivesWarnsAboutGarbageThatStartsWithDigits() throws {
        var rows = OldRuleRows.rows
        rows.append(TicketRow(id: 26, ticketID: "IGP-2026-0026", status: "received", assignedTo: 1, scheduledDate: "2026/11/24 08:00"))
        rows.append(TicketRow(id: 27, ticketID: "IGP-2026-0027", status: "received", assignedTo: 1, scheduledDate: "2027-01-10 08:00:00"))
        let database = try AppDatabase(rows)
        let plain = try Self.scan([try Self.rule("any", MatchSpec())], on: database)
        #expect(Set(plain.badRows.map(\.ticket)).isSuperset(of: [10, 17, 19, 25, 26]), "\(plain.badRows)")
        #expect(plain.badRows.first { $0.ticket == 19 }?.description.contains("scheduled_date \"24/11/2026\"") == true)
        #expect(!plain.badRows.contains { $0.ticket == 27 } && !Self.ids(plain).contains(27), "a future date is neither")
        try database.appWrite("DROP INDEX idx_tickets_status")
        let notIn = try Self.scan([try Self.rule("open", MatchSpec(statusNotIn: ["completed", "archived"]))], on: database)
        #expect(Set(notIn.badRows.map(\.ticket)).isSuperset(of: [10, 17, 19, 26]), "\(notIn.badRows)")
        #expect(!notIn.badRows.contains { $0.ticket == 25 }, "archived: excluded by status_not_in")
    }

    /// A date stored as a blob (a driver that binds it as bytes) is read as the text it holds,
    /// under every shape of rule. A blob sorts after all text, so the date bound does not
    /// select it; `NOT … GLOB` does (SQLite 3.40 matches no blob against the pattern), and a
    /// change of either condition must keep it so.
    @Test func aDateStoredAsABlobIsReadAsItsText() throws {
        let database = try AppDatabase([
            TicketRow(id: 1, ticketID: "A-1", status: "received", assignedTo: 1, scheduledDate: OldRuleRows.past),
            TicketRow(id: 2, ticketID: "A-2", status: "received", assignedTo: 1, scheduledDate: OldRuleRows.past),
            TicketRow(id: 3, ticketID: "A-3", status: "received", assignedTo: 1, scheduledDate: OldRuleRows.past),
        ])
        try database.appWrite("""
            UPDATE tickets SET scheduled_date = CAST(scheduled_date AS BLOB) WHERE id = 2;
            UPDATE tickets SET scheduled_date = CAST('garbage' AS BLOB) WHERE id = 3
            """)
        for match in [MatchSpec(), MatchSpec(statusIn: ["received"]), MatchSpec(statusNotIn: ["completed"])] {
            let report = try Self.scan([try Self.rule("r", match)], on: database)
            #expect(Self.ids(report) == [1, 2], "\(match)")
            #expect(report.badRows.map(\.ticket) == [3], "\(match)")
        }
    }

    /// A status or priority stored as a blob (a driver that binds it as bytes) is compared by
    /// the text it holds, as a date or an assignee stored so is read: SQL alone equals no blob
    /// to a bound string, so a closed ticket (`X'…'` of "completed") was matched by
    /// `status_not_in`, and an open one never by `status_in` or `priority_in`.
    /// With and without each of the app's indexes (they choose the query's shape).
    @Test(arguments: ["", "DROP INDEX idx_tickets_status", "DROP INDEX idx_tickets_scheduled"])
    func aStatusOrPriorityStoredAsABlobIsComparedAsItsText(dropping: String) throws {
        let past = OldRuleRows.past
        let database = try AppDatabase([
            TicketRow(id: 1, ticketID: "A-1", status: "received", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 2, ticketID: "A-2", status: "received", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 3, ticketID: "A-3", status: "completed", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 4, ticketID: "A-4", status: "completed", assignedTo: 1, scheduledDate: past),
        ])
        try database.appWrite("""
            UPDATE tickets SET status = CAST(status AS BLOB), priority = CAST('critical' AS BLOB) WHERE id IN (2, 4);
            UPDATE tickets SET priority = 'critical' WHERE id IN (1, 3);
            \(dropping.isEmpty ? "SELECT 1" : dropping)
            """)
        let open = try Self.scan([try Self.rule("open", MatchSpec(statusIn: ["received"]))], on: database)
        #expect(Self.ids(open) == [1, 2], "\(dropping)")
        let notClosed = try Self.scan([try Self.rule("open", MatchSpec(statusNotIn: ["completed"]))], on: database)
        #expect(Self.ids(notClosed) == [1, 2], "\(dropping)")
        let critical = try Self.scan([try Self.rule("critical", MatchSpec(statusIn: ["received"], priorityIn: ["critical"]))], on: database)
        #expect(Self.ids(critical) == [1, 2], "\(dropping)")
        #expect(open.badRows.isEmpty && notClosed.badRows.isEmpty)
    }

    /// `status_not_in` alone is read through the statuses present in the status index; a
    /// status whose bytes are not UTF-8, or hold a NUL, cannot be restated as a bound string:
    /// the date index drives instead, and such tickets are matched like any other status.
    @Test func statusNotInMatchesStatusesThatAreNotUTF8() throws {
        let past = OldRuleRows.past
        let database = try AppDatabase([
            TicketRow(id: 1, ticketID: "A-1", status: "received", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 2, ticketID: "A-2", status: "x", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 3, ticketID: "A-3", status: "x", assignedTo: 1, scheduledDate: past),
            TicketRow(id: 4, ticketID: "A-4", status: "x", assignedTo: 1, scheduledDate: "garbage"),
            TicketRow(id: 5, ticketID: "A-5", status: "completed", assignedTo: 1, scheduledDate: past),
        ])
        try database.appWrite("""
            UPDATE tickets SET status = CAST(X'7072E9766F' AS TEXT) WHERE id IN (2, 4);
            UPDATE tickets SET status = CAST(X'7265630064' AS TEXT) WHERE id = 3
            """)
        let report = try Self.scan([try Self.rule("open", MatchSpec(statusNotIn: ["completed"]))], on: database)
        #expect(Self.ids(report) == [1, 2, 3])
        #expect(report.badRows.map(\.ticket) == [4])
    }

    /// A NULL status (a loose export without the app's NOT NULL) is in no list, yet SQL's
    /// `NOT IN` is not true of it: a `status_not_in` rule warns about it instead of leaving
    /// it out unseen, with the status index or without; other rules are not concerned.
    @Test(arguments: [true, false])
    func aNullStatusIsWarnedAboutByStatusNotIn(statusIndex: Bool) throws {
        let database = try AppDatabase([
            TicketRow(id: 1, ticketID: "A-1", status: "received", assignedTo: 1, scheduledDate: OldRuleRows.past),
            TicketRow(id: 2, ticketID: "A-2", status: "x", assignedTo: 1, scheduledDate: OldRuleRows.past),
        ]) { $0.replacingOccurrences(of: "status TEXT NOT NULL", with: "status TEXT") }
        try database.appWrite("UPDATE tickets SET status = NULL WHERE id = 2")
        if !statusIndex { try database.appWrite("DROP INDEX idx_tickets_status") }
        let report = try Self.scan([try Self.rule("open", MatchSpec(statusNotIn: ["completed"])),
                                    try Self.rule("received", MatchSpec(statusIn: ["received"]))], on: database)
        #expect(Self.ids(report) == [1])
        #expect(report.badRows.map(\.ticket) == [2])
        #expect(report.badRows.first?.description.contains("status is NULL") == true, "\(report.badRows)")
        let others = try Self.scan([try Self.rule("received", MatchSpec(statusIn: ["received"]))], on: database)
        #expect(others.badRows.isEmpty)
    }

    @Test func eachUnreadableRowIsReportedOnceNamingTheTicket() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule(), try Self.rule("received-only", MatchSpec(statusIn: ["received"]))], on: database)
        #expect(report.badRows.count == OldRuleRows.oldRuleBadRows.count, "\(report.badRows)")
        #expect(Set(report.badRows.map(\.ticket)) == OldRuleRows.oldRuleBadRows)
        let demain = try #require(report.badRows.first { $0.ticket == 10 })
        #expect(demain.ticketID == "IGP-2026-0010")
        #expect(demain.description.contains("IGP-2026-0010"))
        #expect(demain.description.contains(#""demain""#))
        let february = try #require(report.badRows.first { $0.ticket == 17 })
        #expect(february.problem.contains("2026-02-30 10:00:00"))
        // Unreadable rows are skipped, never matched.
        #expect(report.matches.allSatisfy { ![10, 17, 19].contains($0.ticket.ticket) })
    }

    @Test func aBlankTicketIDIsNotifiedUnderTheInternalId() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule()], on: database)
        let blank = try #require(report.matches.first { $0.ticket.ticket == 16 })
        #expect(blank.ticket.ticketID == "#16")
        #expect(blank.isEnqueued)
        #expect(report.notifications.first { $0.ticket == 16 }?.ticketID == "#16")
        let bad = try #require(report.badRows.first { $0.ticket == 16 })
        #expect(bad.ticketID == nil)
        #expect(bad.description.contains("ticket 16"))
        #expect(bad.problem.contains("#16"))
    }

    @Test func aNullTicketIDIsNotifiedUnderTheInternalId() throws {
        let candidate = TicketCandidate(id: 99, ticketID: nil, status: "received", priority: nil,
                                        assignedTo: 0, scheduledDate: "2026-11-20 08:00:00")
        let rule = try Self.rule()
        let result = RulesEngine.overdue(rule: rule, candidates: [DatedCandidate(candidate, zone: Instants.toronto)], now: Instants.now)
        #expect(result.tickets.map(\.ticketID) == ["#99"])
        #expect(result.tickets.first?.priority == "")
        var matches = RulesEngine.decide(rule: rule, tickets: result.tickets, previous: [:], now: Instants.now)
        #expect(matches.map(\.isEnqueued) == [true])
        RulesEngine.holdBack(&matches, open: [Outbox.OpenKey(ticket: 99, destination: "automation")])
        #expect(matches.map(\.decision) == [.suppress(.stillQueued)], "its one destination still has it queued")
        let record = TicketRecord(id: 99, ticketID: nil, title: nil, description: nil, status: "received", assignedTo: 0,
                                  scheduledDate: "2026-11-20 08:00:00")
        let snapshot = RulesEngine.snapshot(rule: rule.name, ticket: result.tickets[0], record: record, detectedAt: Instants.now)
        #expect(snapshot.ticketID == "#99")
        #expect(snapshot.title == "")
        #expect(result.badRows.map(\.ticket) == [99])
        #expect(result.badRows.first?.ticketID == nil)
        #expect(result.badRows.first?.problem.contains("#99") == true)
    }

    @Test func aScanWritesNothing() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let before = try database.directory.bytes("tickets.sqlite")
        _ = try Self.scan([try Self.rule()], on: database)
        _ = try Self.scan([try Self.rule()], on: database)
        let outbox = try database.outbox()
        #expect(try outbox.counts() == QueueCounts())
        #expect(try outbox.dedupRecords(rule: "old-rule", tickets: Array(OldRuleRows.oldRuleSelects)).isEmpty)
        #expect(try database.directory.bytes("tickets.sqlite") == before)
    }

    @Test func notificationsGoToEveryDestinationOfTheRule() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        let report = try Self.scan([try Self.rule(destinations: ["automation", "chat"])], on: database)
        #expect(report.notifications.count == 2 * OldRuleRows.oldRuleSelects.count)
        for ticket in OldRuleRows.oldRuleSelects {
            let sent = report.notifications.filter { $0.ticket == ticket }
            #expect(Set(sent.map(\.destination)) == ["automation", "chat"])
            #expect(Set(sent.map(\.id)).count == 2, "one id per notification")
            #expect(sent.allSatisfy { $0.rule == "old-rule" && $0.createdAt == Instants.now && $0.status == .pending })
            let snapshot = try TicketSnapshot.decode(try #require(sent.first).snapshot)
            #expect(snapshot.ticket == ticket)
            #expect(snapshot.rule == "old-rule")
        }
    }

    @Test func theDemoDatabaseHoldsWhatItsSummarySays() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url("demo.sqlite")
        let summary = try DemoTickets(ticketCount: 20_000, now: Instants.now, timeZone: Instants.toronto).write(to: path)
        let state = Outbox(database: try StateDatabase(path: directory.url("state.sqlite")))
        let report = try RulesEngine(rules: [try Self.rule()], timeZone: Instants.toronto)
            .scan(tickets: try TicketsDatabase(path: path), outbox: state, now: Instants.now)
        #expect(report.matches.count == summary.overdueByOldRule)
        #expect(report.badRows.count == summary.unreadableDates)
        #expect(report.matches.contains { $0.ticket.assignedTo == 0 })
    }
}
