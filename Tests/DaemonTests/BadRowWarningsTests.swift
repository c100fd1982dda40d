import Daemon
import Scheduler
import Testing

/// The daemon warns about a bad row once per problem; a row fixed and broken again is warned
/// about again, and only rows bad now are remembered.
struct BadRowWarningsTests {
    static func row(_ ticket: Int64, _ problem: String) -> BadRow {
        BadRow(ticket: ticket, ticketID: "T-\(ticket)", problem: problem)
    }

    @Test func oncePerProblemThenAgainAfterAFix() {
        var warnings = BadRowWarnings()
        let garbage = Self.row(1, "scheduled_date \"garbage\" is not a date")
        #expect(warnings.fresh([garbage], complete: true).map(\.ticket) == [1])
        #expect(warnings.fresh([garbage], complete: true).isEmpty, "not at every tick")
        // A tick whose result was reused carries no bad rows: nothing is forgotten by it.
        #expect(warnings.fresh([], complete: false).isEmpty)
        #expect(warnings.fresh([garbage], complete: true).isEmpty)
        // Fixed: forgotten. Broken again the same way: warned again.
        #expect(warnings.fresh([], complete: true).isEmpty)
        #expect(warnings.count == 0)
        #expect(warnings.fresh([garbage], complete: true).map(\.ticket) == [1])
        // Another problem of the same row is a new warning.
        #expect(warnings.fresh([Self.row(1, "assigned_to \"bob\"")], complete: true).map(\.ticket) == [1])
    }

    @Test func onlyWhatIsBadNowIsRemembered() {
        var warnings = BadRowWarnings()
        for ticket in Int64(1)...1_000 { _ = warnings.fresh([Self.row(ticket, "p")], complete: true) }
        #expect(warnings.count == 1)
    }
}
