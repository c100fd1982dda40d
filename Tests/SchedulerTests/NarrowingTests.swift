import Foundation
import GRDB
import OverduedConfig
import Scheduler
import Store
import Testing
import TestSupport

/// A rule on a status set reads its rows by id, after two index-only reads have left out the
/// tickets whose scheduled_date shows they are not due (`TicketFilter.Narrowing`). The rows
/// must be exactly those of the plain query, whatever the app stored in the column.
struct NarrowingTests {
    /// At `Instants.now` the filter's date bound is 2026-11-26 (now + 14 h, the day after).
    static let dates: [String?] = [
        nil, "", "null", "NULL", "demain", " 2099-01-01", "2099-01-01 ", "\t2026-11-20",
        "2020-01-01", "2026-11-24 08:00:00", "2026-11-25", "2026-11-25 23:59:59", "2026-11-25T23:00:00Z",
        "2026-11-26", "2026-11-26 00:00:00", "2026-11-26T01:00:00+05:00", "2026-12-01 08:00:00", "2099-12-31",
        // Date-shaped but not dates, at or after the bound: the plain query leaves them out too.
        "2099-13-45", "9999-99-99 garbage",
        // Digits first, not date-shaped, after the bound: garbage the plain query selects (to warn).
        "2099/01/01", "31/12/2099", "20991231", "2099-1-01", "2099-01-1", "3000", "9", "2099-01-01x",
        "2099–01–01", "２０９９-01-01",
    ]

    /// Every date above under several statuses, assignments and deletions, plus values stored
    /// in other storage classes.
    static func database() throws -> AppDatabase {
        var rows: [TicketRow] = []
        var id: Int64 = 0
        for date in dates {
            for (status, assigned, deleted) in [("received", Int64?(1), String?(nil)), ("diagnostic", nil, nil),
                                                ("received", 0, "2026-11-01"), ("completed", 1, nil), ("private", 2, nil)] {
                id += 1
                rows.append(TicketRow(id: id, ticketID: "IGP-2026-\(id)", status: status, assignedTo: assigned,
                                      scheduledDate: date, deletedAt: deleted))
            }
        }
        let database = try AppDatabase(rows)
        try database.appWrite("""
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date)
            VALUES (1001, 'I-1', 't', 'd', 1, 'received', 'high', 2, 1, 20991231),
                   (1002, 'I-2', 't', 'd', 1, 'received', 'high', 2, 1, 20201231.5),
                   (1003, 'I-3', 't', 'd', 1, 'received', 'high', 2, 1, X'323039392D30312D3031'),
                   (1004, 'I-4', 't', 'd', 1, 'received', 'high', 2, 1, CAST(X'323039392D30312D3031FF' AS TEXT)),
                   (1005, 'I-5', 't', 'd', 1, 'received', 'high', 2, 1, CAST(X'323032302D30312D3031FF' AS TEXT))
            """)
        return database
    }

    static let matches: [MatchSpec] = [
        MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
        MatchSpec(statusIn: ["received"]),
        MatchSpec(statusIn: ["received", "private", "diagnostic"], assigned: false, includeDeleted: true),
        MatchSpec(statusIn: ["received"], grace: .seconds(3 * 86_400)),
        MatchSpec(statusIn: ["diagnostic", "received"], priorityIn: ["high"]),
        MatchSpec(statusIn: ["nothing"]),
    ]

    @Test(arguments: matches.indices)
    func theNarrowedRowsAreThePlainQuerysRows(_ index: Int) throws {
        let database = try Self.database()
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: Self.matches[index], now: Instants.now, schema: tickets.schema)
        let narrowing = try #require(filter.narrowing)
        var plain = filter
        plain.narrowing = nil
        let expected = try tickets.candidates(where: plain)
        #expect(try tickets.candidates(where: filter) == expected)
        #expect(try tickets.tickets(where: filter).map(\.id) == expected.map(\.id))
        // And it did narrow: the tickets of the set with a date-shaped future date were left out.
        let narrowed = try #require(try tickets.narrowedIDs(where: filter))
        if narrowing.statuses != ["nothing"] {
            #expect(narrowed.outcome.notDue > 0)
            #expect(narrowed.ids.count == narrowed.outcome.inStatuses - narrowed.outcome.notDue)
            #expect(!narrowed.outcome.stoppedEarly)
            #expect(narrowed.outcome.pays)
            #expect(Set(expected.map(\.id)).isSubset(of: narrowed.ids))
        } else {
            #expect(narrowed.ids.isEmpty && narrowed.outcome.inStatuses == 0 && narrowed.outcome.datesRead == 0)
        }
        _ = try tickets.candidates(where: filter)
        #expect(tickets.lastReadPlan == .narrowed(narrowed.outcome))
    }

    /// A rule with `status_not_in` and no status set is read as the set of the statuses
    /// present less the excluded ones (`TicketFilter.Complement`): exactly the rows of that
    /// set, narrowed like it, and every row the date index would have read (plus garbage dates
    /// it could not find without a full scan, now warned about).
    @Test(arguments: [
        (MatchSpec(statusNotIn: ["completed"], assigned: true), ["diagnostic", "private", "received"]),
        (MatchSpec(statusNotIn: ["completed", "private"], includeDeleted: true), ["diagnostic", "received"]),
        (MatchSpec(statusNotIn: ["received", "nothing"], priorityIn: ["high"], grace: .seconds(86_400)), ["completed", "diagnostic", "private"]),
    ])
    func aStatusExclusionIsReadAsTheStatusesLeft(_ match: MatchSpec, left: [String]) throws {
        let database = try Self.database()
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: match, now: Instants.now, schema: tickets.schema)
        #expect(filter.complement != nil)
        var asSet = match
        (asSet.statusIn, asSet.statusNotIn) = (left, nil)
        let expected = try tickets.candidates(where: RuleQuery.filter(for: asSet, now: Instants.now, schema: tickets.schema))
        #expect(try tickets.candidates(where: filter) == expected)
        guard case .narrowed = tickets.lastReadPlan else {
            Issue.record("read \(tickets.lastReadPlan), not narrowed")
            return
        }
        var byDate = filter
        byDate.complement = nil
        let read = try tickets.candidates(where: byDate)
        #expect(Set(read.map(\.id)).isSubset(of: expected.map(\.id)))
        #expect(expected.filter { row in !read.contains { $0.id == row.id } }.allSatisfy { row in
            !(row.scheduledDate.map { Array($0.utf8).withUnsafeBufferPointer(ScheduledDateText.isDateShaped) } ?? false)
        })
        #expect(try tickets.queryPlan(where: filter).contains { $0.contains("idx_tickets_status") })
    }

    /// A status stored as a blob comes from the status index in a run of its own, after the
    /// text one: the ids are put in order before the not-due ones are looked up by halves
    /// (one status used to be taken for one sorted run, and blob-stored tickets not due were
    /// read by id all the same, and not counted as left out).
    @Test func aStatusStoredAsTextAndAsABlobIsNarrowedInOrder() throws {
        let database = try AppDatabase((1...40).map { id in
            TicketRow(id: Int64(id), ticketID: "A-\(id)", status: "received", assignedTo: 1,
                      scheduledDate: id <= 2 ? "2026-11-20 08:00:00" : "2099-01-01 08:00:00")
        })
        try database.appWrite("UPDATE tickets SET status = CAST(status AS BLOB) WHERE id IN (1, 35, 37, 39)")
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: Instants.now, schema: tickets.schema)
        let narrowed = try #require(try tickets.narrowedIDs(where: filter))
        #expect(narrowed.ids == [1, 2])
        #expect(narrowed.outcome.inStatuses == 40 && narrowed.outcome.notDue == 38, "\(narrowed.outcome)")
        #expect(try tickets.candidates(where: filter).map(\.id).sorted() == [1, 2])
    }

    /// A status the set cannot list (a blob) or none left: the date index drives as before, or
    /// nothing is read.
    @Test func aStatusExclusionFallsBackWhenTheStatusesCannotBeListed() throws {
        let database = try Self.database()
        let tickets = try database.tickets()
        let none = RuleQuery.filter(for: MatchSpec(statusNotIn: ["completed", "diagnostic", "private", "received"]),
                                    now: Instants.now, schema: tickets.schema)
        #expect(try tickets.candidates(where: none).isEmpty)
        try database.appWrite("UPDATE tickets SET status = X'6F70656E' WHERE id = 41")
        let filter = RuleQuery.filter(for: MatchSpec(statusNotIn: ["completed"]), now: Instants.now, schema: tickets.schema)
        var byDate = filter
        byDate.complement = nil
        let expected = try tickets.candidates(where: byDate)
        #expect(expected.contains { $0.id == 41 }, "a blob status is not in the exclusion")
        #expect(try tickets.candidates(where: filter) == expected)
        #expect(tickets.lastReadPlan == .plain)
    }

    @Test func garbageAfterTheBoundIsStillReadAndWarnedAbout() throws {
        let database = try Self.database()
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: Instants.now, schema: tickets.schema)
        let read = Set(try tickets.candidates(where: filter).compactMap(\.scheduledDate))
        for garbage in ["2099/01/01", "31/12/2099", "20991231", "2099-1-01", "2099-01-1", "demain", "null"] {
            #expect(read.contains(garbage), "\(garbage)")
        }
        for notDue in ["2026-11-26", "2099-12-31", "2099-13-45"] {
            #expect(!read.contains(notDue), "\(notDue)")
        }
    }

    /// When the dates at or after the bound are mostly closed tickets, reading them all would
    /// cost more than the table seeks it saves: the read stops, the filter's own query reads
    /// the rows (exactly the same ones), and the next reads of that status set skip the
    /// probe for a while.
    @Test func theDateReadStopsWhenItStopsPayingAndTheRowsStayExact() throws {
        var rows: [TicketRow] = []
        for id in Int64(1)...40 {
            rows.append(TicketRow(id: id, ticketID: "IGP-2026-\(id)", status: "received", assignedTo: 1,
                                  scheduledDate: id.isMultiple(of: 2) ? "2026-11-20 08:00:00" : "2026-12-0\(id % 9 + 1) 08:00:00"))
        }
        for id in Int64(41)...2_000 {
            rows.append(TicketRow(id: id, ticketID: "IGP-2026-\(id)", status: "completed", assignedTo: 1,
                                  scheduledDate: "2026-11-27 08:00:00"))
        }
        let database = try AppDatabase(rows)
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"], assigned: true), now: Instants.now, schema: tickets.schema)
        let narrowed = try #require(try tickets.narrowedIDs(where: filter))
        #expect(narrowed.outcome.stoppedEarly)
        #expect(narrowed.outcome.datesRead < 100)
        #expect(!narrowed.outcome.pays)
        var plain = filter
        plain.narrowing = nil
        let expected = try tickets.candidates(where: plain)
        #expect(expected.map(\.id) == (1...20).map { Int64($0 * 2) })
        #expect(try tickets.candidates(where: filter) == expected)
        #expect(tickets.lastReadPlan == .probedThenPlain(narrowed.outcome))
        for _ in 0..<TicketsDatabase.plainReadsAfterAProbe {
            #expect(try tickets.candidates(where: filter) == expected)
            #expect(tickets.lastReadPlan == .plain)
        }
        #expect(try tickets.candidates(where: filter) == expected)
        #expect(tickets.lastReadPlan == .probedThenPlain(narrowed.outcome), "probed again")
    }

    /// A status set where most tickets are not yet due: the probe pays, and every read narrows.
    @Test func aNarrowingThatPaysIsUsedEveryTime() throws {
        let database = try Self.database()
        let tickets = try database.tickets()
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: Instants.now, schema: tickets.schema)
        for _ in 0..<3 {
            _ = try tickets.candidates(where: filter)
            guard case .narrowed(let outcome) = tickets.lastReadPlan else {
                Issue.record("\(tickets.lastReadPlan)")
                return
            }
            #expect(outcome.pays && outcome.notDue > 0)
        }
    }

    @Test func theSwiftTestIsSQLitesGlob() throws {
        let queue = try DatabaseQueue()
        let values = Self.dates.compactMap { $0 } + ["2026-11-2", "0000-00-00", "2026-11-26é", "2026-11-26\u{0}x", "abcd-ef-gh"]
        for value in values {
            let glob = try queue.read { db in
                try Bool.fetchOne(db, sql: "SELECT ? GLOB ?", arguments: [value, ScheduledDateText.globPattern])
            }
            #expect(ScheduledDateText.isDateShaped(value) == glob, "\(value.debugDescription)")
        }
    }

    @Test func withoutTheDateIndexTheFilterIsNotNarrowed() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        try database.appWrite("DROP INDEX idx_tickets_scheduled")
        let tickets = try database.tickets()
        #expect(tickets.schema.hasScheduledDateIndex == false)
        #expect(tickets.schema.hasStatusIndex)
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: Instants.now, schema: tickets.schema)
        #expect(filter.narrowing == nil)
        #expect(try tickets.narrowedIDs(where: filter) == nil)
    }

    @Test(arguments: ["CREATE INDEX idx_tickets_scheduled ON tickets(scheduled_date COLLATE NOCASE)",
                      "CREATE INDEX idx_tickets_scheduled ON tickets(scheduled_date) WHERE deleted_at IS NULL",
                      "CREATE INDEX idx_tickets_scheduled ON tickets(priority, scheduled_date)"])
    func anIndexThatDoesNotServeEveryRangeIsNotCounted(_ index: String) throws {
        let database = try AppDatabase(OldRuleRows.rows)
        try database.appWrite("DROP INDEX idx_tickets_scheduled")
        try database.appWrite(index)
        #expect(try database.tickets().schema.hasScheduledDateIndex == false)
    }

    @Test func anIndexUnderAnotherNameIsCounted() throws {
        let database = try AppDatabase(OldRuleRows.rows)
        try database.appWrite("DROP INDEX idx_tickets_scheduled")
        try database.appWrite("CREATE INDEX tickets_by_date ON tickets(scheduled_date, id)")
        #expect(try database.tickets().schema.hasScheduledDateIndex)
    }
}
