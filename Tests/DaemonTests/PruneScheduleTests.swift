import Daemon
import Foundation
import Logging
import Store
import Testing
import TestSupport

/// The hourly prune is timed by the monotonic clock only: what the wall clock does (set back
/// by a year, say) cannot stop it.
struct PruneScheduleTests {
    /// Which of `offsets` (seconds after a start) find the prune due, in order.
    static func due(_ schedule: inout PruneSchedule, _ offsets: [Int], from start: ContinuousClock.Instant) -> [Bool] {
        offsets.map { schedule.isDue(at: start + .seconds($0)) }
    }

    @Test func dueAtTheFirstTickThenHourly() {
        var schedule = PruneSchedule()
        let answers = Self.due(&schedule, [0, 5, 3599, 3600, 3601], from: ContinuousClock.now)
        #expect(answers == [true, false, false, true, false])
    }

    @Test func olderHistoryLeftMakesTheNextTickPruneAgain() {
        var schedule = PruneSchedule()
        let start = ContinuousClock.now
        let first = Self.due(&schedule, [0], from: start)
        schedule.again()
        let then = Self.due(&schedule, [1, 2], from: start)
        #expect(first + then == [true, true, false])
    }
}

/// Pruning never makes a short tick overrun its interval by itself.
struct PruneBudgetTests {
    @Test func aSecondOrAQuarterOfTheTickInterval() {
        #expect(HistoryPruning.budget(tickInterval: .seconds(300)) == .seconds(1))
        #expect(HistoryPruning.budget(tickInterval: .seconds(1)) == .milliseconds(250))
    }
}

/// A prune that fails (a full disk, which pruning is what frees) is tried again at the next
/// tick, not an hour later.
struct FailedPruneTests {
    @Test func aFailedPruneAsksForTheNextTick() throws {
        let folder = try TemporaryDirectory()
        let path = folder.url("state.sqlite")
        let writable = Outbox(database: try StateDatabase(path: path))
        let logger = Logger(label: "test")
        #expect(HistoryPruning.prune(writable, retention: .seconds(86_400), now: Date(), logger: logger) == .done, "nothing to prune")
        // One delivered a year ago, to prune.
        let old = Date().addingTimeInterval(-365 * 86_400)
        try writable.enqueue([OverdueNotification(id: "msg_old", rule: "r", ticket: 1, ticketID: "T-1", destination: "hook",
                                                  snapshot: Data("{}".utf8), createdAt: old)], dedup: [])
        try writable.record([RecordedAttempt(attempt: DeliveryAttempt(notificationID: "msg_old", attempt: 1, startedAt: old,
                                                                      durationMilliseconds: 1, httpStatus: 200),
                                             outcome: .delivered, at: old)])
        // Opened to look only: the prune's write is refused.
        let readOnly = Outbox(database: try StateDatabase(path: path, lookingOnly: true))
        #expect(HistoryPruning.prune(readOnly, retention: .seconds(86_400), now: Date(), logger: logger) == .failed)
    }
}
