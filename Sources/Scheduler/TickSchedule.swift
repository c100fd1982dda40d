public import Foundation
public import OverduedConfig

/// When the next tick is due: pure arithmetic on wall-clock time, so alignment, drift and
/// clock jumps are tested without waiting.
///
/// - aligned: on wall-clock multiples of the interval since the Unix epoch (like `*/5` in
///   cron), so ticks of several daemons, and of one daemon across restarts, line up;
/// - not aligned: one interval after the previous tick was due, so a slow tick does not push
///   every later tick (no drift);
/// - after a suspend or a clock jump forward the next tick is due at once, and only one: the
///   missed slots are skipped, not run as a storm;
/// - after a jump backwards the previous due time may lie far in the future: the next one is
///   capped at one interval from now.
public struct TickSchedule: Sendable, Equatable {
    public var interval: Duration
    public var align: Bool

    public init(interval: Duration, align: Bool) {
        self.interval = interval
        self.align = align
    }

    /// The config's `schedule`.
    public init(_ settings: ScheduleSettings) {
        self.init(interval: settings.interval, align: settings.align)
    }

    /// The first tick after start-up: at once (an operator starting the daemon wants to see it
    /// work), then on the schedule.
    public func next(after previousDue: Date?, now: Date) -> Date {
        let seconds = max(interval.seconds, 0.001)
        if align {
            let slot = (now.timeIntervalSince1970 / seconds).rounded(.down) + 1
            return Date(timeIntervalSince1970: slot * seconds)
        }
        guard let previousDue else { return now }
        let candidate = previousDue.addingTimeInterval(seconds)
        if candidate <= now { return now }                       // late: one tick now, no catch-up
        if candidate > now.addingTimeInterval(seconds) { return now.addingTimeInterval(seconds) }  // clock went back
        return candidate
    }

    /// The instant a tick run at `instant` evaluates at: on an aligned schedule, the nearest
    /// slot (multiple of the interval) when it is at most `snapTolerance` away; otherwise
    /// `instant` itself. A scheduled tick is due at its slot already; `once` or `scan` run by
    /// cron start a little early or late, differently each day: evaluated at the slot, the
    /// dedup records they write are a whole number of days apart, and `repeat.every: "24h"`
    /// repeats on the next day's run, not (short by a second) on the run after it, moving an
    /// interval later day after day. Further from a slot (a tick at start-up, SIGUSR1), it is
    /// the instant itself: moved back to its slot, it would shorten `every` by up to an
    /// interval, and a ticket notified at 14:09:59 would be notified again at 14:10 with
    /// `every` equal to the interval.
    public func snapped(_ instant: Date) -> Date {
        guard align else { return instant }
        // In whole milliseconds: a slot's own instant is its slot, not the one before by a
        // rounding error of the division.
        let step = max(Int64((interval.seconds * 1_000).rounded()), 1)
        let milliseconds = Int64((instant.timeIntervalSince1970 * 1_000).rounded())
        let below = milliseconds >= 0 ? milliseconds / step * step : -((-milliseconds + step - 1) / step) * step
        let nearest = milliseconds - below <= step / 2 ? below : below + step
        let tolerance = min(Int64(Self.snapTolerance.seconds * 1_000), step / 10)
        guard abs(milliseconds - nearest) <= tolerance else { return instant }
        return Date(timeIntervalSince1970: TimeInterval(nearest) / 1_000)
    }

    /// How far from a slot a tick still counts as it: cron starts a job within a second or
    /// two of its minute (a tenth of the interval at most, for short intervals).
    public static let snapTolerance: Duration = .seconds(2)

    /// How many due slots a tick that ran from `due` to `finished` made us skip.
    public func skippedSlots(due: Date, finished: Date) -> Int {
        let seconds = max(interval.seconds, 0.001)
        let late = finished.timeIntervalSince(due)
        return late <= seconds ? 0 : Int((late / seconds).rounded(.down))
    }
}
