import Foundation
@testable import Scheduler
import Testing

/// The overdue test itself: strictly after the due instant plus the grace, to the millisecond.
struct OverdueTestTests {
    /// A due time with milliseconds, as the app's dates and ISO forms give them.
    static let due = Date(timeIntervalSince1970: 1_795_532_400.001)

    @Test(arguments: [Duration.zero, .milliseconds(1), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(3_600)])
    func aTicketIsOverdueOnlyAfterItsGraceHasEnded(grace: Duration) {
        let end = Self.due.addingTimeInterval(Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18)
        #expect(!RulesEngine.isOverdue(dueAt: Self.due, grace: grace, at: end.addingTimeInterval(-0.001)))
        #expect(!RulesEngine.isOverdue(dueAt: Self.due, grace: grace, at: end), "at the very end of \(grace)")
        #expect(RulesEngine.isOverdue(dueAt: Self.due, grace: grace, at: end.addingTimeInterval(0.001)))
    }
}
