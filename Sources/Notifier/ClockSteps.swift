public import Foundation
import OverduedConfig

/// The forward steps of the wall clock this process has seen: NTP setting a machine without a
/// battery-backed clock days ahead after it booted at a wrong time, say.
///
/// `retry.give_up_after` is counted on the wall clock from when a notification was queued (a
/// time kept in the state database, which outlives the process). A step forward of two days
/// while notifications wait for a retry would age each of them by two days, and give up every
/// one (dead) at its next failure. Between two looks at both clocks, the wall clock moving
/// more than the monotonic one is a step; a budget that began before the step is moved forward
/// by it (`shift(since:)`). Steps back are not counted: they only lengthen budgets. Steps
/// before this process started cannot be seen. Pure: the times are arguments.
public struct ClockSteps: Sendable {
    /// A step: the wall clock read `after` just after it moved forward `by` seconds.
    public struct Step: Sendable, Equatable {
        public var after: Date
        public var by: TimeInterval

        public init(after: Date, by: TimeInterval) {
            self.after = after
            self.by = by
        }
    }

    public private(set) var steps: [Step] = []
    private var last: (wall: Date, monotonic: ContinuousClock.Instant)?

    /// Less than this between two looks is the clocks' drift and the looks' own delay, not a step.
    public static let threshold: TimeInterval = 5

    public init() {}

    /// One look at both clocks (at least every few seconds, so that the step is dated within
    /// that much: the heartbeat of `Notifier.run`, and each retry decision).
    public mutating func observe(wall: Date, monotonic: ContinuousClock.Instant) {
        if let last {
            let stepped = wall.timeIntervalSince(last.wall) - (monotonic - last.monotonic).seconds
            if stepped >= Self.threshold { steps.append(Step(after: wall, by: stepped)) }
        }
        last = (wall, monotonic)
    }

    /// How far the steps taken after `start` (a wall-clock time read before them) moved the
    /// clock: what a budget that began at `start` should not count as time spent.
    public func shift(since start: Date) -> TimeInterval {
        steps.reduce(0) { total, step in start < step.after.addingTimeInterval(-step.by) ? total + step.by : total }
    }
}
