public import Foundation
import OverduedConfig

/// The steps of the wall clock this process has seen: NTP setting a machine without a
/// battery-backed clock days ahead after it booted at a wrong time, or back after it ran ahead.
///
/// `retry.give_up_after` is counted on the wall clock from when a notification was queued (a
/// time kept in the state database, which outlives the process). A step forward of two days
/// while notifications wait for a retry would age each of them by two days, and give up every
/// one (dead) at its next failure. Between two looks at both clocks, the wall clock moving
/// more than the monotonic one is a step; a budget that began before the step is moved forward
/// by it (`shift(since:)`). Steps back never shorten a budget, but are kept: after one, the
/// wall clock shows some times twice, and a budget's start no longer tells by itself which
/// later steps it preceded. Steps before this process started cannot be seen. Pure: the
/// times are arguments.
public struct ClockSteps: Sendable {
    /// A step: the wall clock read `after` just after it moved `by` seconds (back if negative).
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
    /// Returns the step this look found, if any.
    @discardableResult
    public mutating func observe(wall: Date, monotonic: ContinuousClock.Instant) -> Step? {
        var step: Step?
        if let last {
            let stepped = wall.timeIntervalSince(last.wall) - (monotonic - last.monotonic).seconds
            if abs(stepped) >= Self.threshold { step = Step(after: wall, by: stepped) }
        }
        if let step { steps.append(step) }
        last = (wall, monotonic)
        return step
    }

    /// How far the steps taken after `start` (a wall-clock time read before them) moved the
    /// clock: what a budget that began at `start` should not count as time spent.
    ///
    /// The steps cut the process's time into spans; `start` was read in one whose readings
    /// reach it (each span ends at the reading just before its step; the last has no end).
    /// After a step back, two spans may: the one giving the larger shift is taken, so that a
    /// budget is never given up early for a step it may have preceded. Never negative.
    public func shift(since start: Date) -> TimeInterval {
        var best: TimeInterval = 0   // read in the last span: no step after it
        var after: TimeInterval = 0  // the steps after span `index`
        for step in steps.reversed() {
            after += step.by
            if start < step.after.addingTimeInterval(-step.by) { best = max(best, after) }
        }
        return best
    }
}
