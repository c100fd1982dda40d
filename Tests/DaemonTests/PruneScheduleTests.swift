import Daemon
import Testing

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
