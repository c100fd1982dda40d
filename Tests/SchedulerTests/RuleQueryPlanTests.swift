import Foundation
import GRDB
import OverduedConfig
import Scheduler
import Store
import Testing
import TestSupport

/// Every rule's query must be answered from one of the app's indexes: the tickets table only
/// grows, and a full scan every tick would compete with the app for its own database.
struct RuleQueryPlanTests {
    struct Rule: Sendable, CustomTestStringConvertible {
        var label: String
        var match: MatchSpec
        var testDescription: String { label }
    }

    static let rules: [Rule] = [
        Rule(label: "old rule", match: MatchSpec(statusIn: ["received", "diagnostic"], assigned: true)),
        Rule(label: "status_in with grace", match: MatchSpec(statusIn: ["received"], grace: .seconds(7_200))),
        Rule(label: "only status_not_in", match: MatchSpec(statusNotIn: ["completed", "archived"])),
        Rule(label: "status_not_in and assigned", match: MatchSpec(statusNotIn: ["completed", "archived"], assigned: true)),
        Rule(label: "only priority_in", match: MatchSpec(priorityIn: ["high", "critical"])),
        Rule(label: "only assigned true", match: MatchSpec(assigned: true)),
        Rule(label: "only assigned false", match: MatchSpec(assigned: false)),
        Rule(label: "include_deleted", match: MatchSpec(includeDeleted: true)),
        Rule(label: "status_in include_deleted", match: MatchSpec(statusIn: ["received", "diagnostic"], includeDeleted: true)),
        Rule(label: "empty match", match: MatchSpec()),
        Rule(label: "everything", match: MatchSpec(statusIn: ["private", "received"], assigned: false, priorityIn: ["low"],
                                                   grace: .seconds(60), includeDeleted: true)),
    ]

    /// A demo database, and a copy of it without `ANALYZE` statistics (as on an app database
    /// that never ran ANALYZE).
    struct Databases {
        let directory: TemporaryDirectory
        let analysed: TicketsDatabase
        let unanalysed: TicketsDatabase

        init() throws {
            let directory = try TemporaryDirectory()
            let path = directory.url("demo.sqlite")
            _ = try DemoTickets(ticketCount: 5_000, now: Instants.now, timeZone: Instants.toronto).write(to: path)
            let copy = directory.url("no-stats.sqlite")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            let queue = try DatabaseQueue(path: copy)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "DROP TABLE sqlite_stat1") }
            try queue.close()
            self.directory = directory
            analysed = try TicketsDatabase(path: path)
            unanalysed = try TicketsDatabase(path: copy)
        }
    }

    static func fullScans(_ plan: [String]) -> [String] {
        plan.filter { $0.hasPrefix("SCAN t") || $0.hasPrefix("SCAN TABLE tickets") }
    }

    @Test func theCopyReallyHasNoStatistics() throws {
        let databases = try Databases()
        #expect(try databases.analysed.tableExists("sqlite_stat1"))
        #expect(try !databases.unanalysed.tableExists("sqlite_stat1"))
    }

    @Test(arguments: rules)
    func noRuleScansTheTicketsTable(_ rule: Rule) throws {
        let databases = try Databases()
        for database in [databases.analysed, databases.unanalysed] {
            let filter = RuleQuery.filter(for: rule.match, now: Instants.now, schema: database.schema)
            let plan = try database.queryPlan(where: filter)
            #expect(!plan.isEmpty)
            #expect(Self.fullScans(plan).isEmpty, "\(database.path): \(plan)")
            #expect(plan.contains { $0.hasPrefix("SEARCH t USING INDEX") || $0.hasPrefix("SEARCH t USING COVERING INDEX") }, "\(plan)")
        }
    }

    @Test func rulesWithStatusInAreDrivenByTheStatusIndex() throws {
        let databases = try Databases()
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received", "diagnostic"], assigned: true),
                                      now: Instants.now, schema: databases.unanalysed.schema)
        var plain = filter
        plain.narrowing = nil
        for database in [databases.analysed, databases.unanalysed] {
            #expect(try database.queryPlan(where: plain).contains { $0.hasPrefix("SEARCH t USING INDEX idx_tickets_status") })
            // Narrowed: two index-only reads, then the rows by id.
            let plan = try database.queryPlan(where: filter)
            #expect(plan.first?.hasPrefix("SEARCH t USING COVERING INDEX idx_tickets_status (status=?)") == true, "\(plan)")
            #expect(plan.contains { $0.hasPrefix("SEARCH t USING COVERING INDEX idx_tickets_scheduled (scheduled_date>? AND scheduled_date<?)") },
                    "\(plan)")
            #expect(plan.contains("SEARCH t USING INTEGER PRIMARY KEY (rowid=?)"), "\(plan)")
        }
    }

    @Test func theFullScanCheckRecognisesAFullScan() throws {
        // The check above must be able to fail: a condition no index serves is a full scan.
        let databases = try Databases()
        let plan = try databases.unanalysed.queryPlan(where: TicketFilter(sql: "t.title LIKE ?", arguments: [.text("%four%")]))
        #expect(!Self.fullScans(plan).isEmpty, "\(plan)")
    }

    @Test func theQuerySelectsASupersetAndNoValueIsSpliced() {
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"], priorityIn: ["high"]), now: Instants.now,
                                      schema: TicketSchema(hasDeletedAt: false))
        #expect(!filter.sql.contains("deleted_at"), "an old schema has no deleted_at column")
        #expect(!filter.sql.contains("received"))
        #expect(!filter.sql.contains("high"))
        #expect(filter.sql.filter { $0 == "?" }.count == filter.arguments.count)
        // now + 18 h is 2026-11-25T09:00Z: every text that can be overdue sorts below the day after.
        #expect(filter.arguments.contains(.text("2026-11-26")))
    }

    /// "2026-11-25T03:00:00+18:00" is 2026-11-24T09:00Z, overdue at 09:30Z: the bound must let
    /// it through (a bound from now + 14 h, "2026-11-25", did not until 10:00Z).
    @Test func theBoundLetsThroughTheWidestOffset() {
        let now = Date(timeIntervalSince1970: 1_795_512_600) // 2026-11-24T09:30:00Z
        let filter = RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: now, schema: TicketSchema(hasDeletedAt: false))
        #expect(filter.arguments.contains(.text("2026-11-26")), "\(filter.arguments)")
    }

    /// Near the end of year 9999 the day after has five digits, which sort before "2026-...":
    /// the bound is then ":", after every date text.
    @Test func theBoundStaysAboveEveryDateInYear9999() {
        func bound(at seconds: TimeInterval) -> [SQLArgument] {
            RuleQuery.filter(for: MatchSpec(statusIn: ["received"]), now: Date(timeIntervalSince1970: seconds),
                             schema: TicketSchema(hasDeletedAt: false)).arguments
        }
        #expect(bound(at: 253_402_214_400 - 86_400).contains(.text("9999-12-31")))  // 9999-12-30T00:00Z
        #expect(bound(at: 253_402_300_800 - 3_600).contains(.text(":")))           // 9999-12-31T23:00Z
    }
}
