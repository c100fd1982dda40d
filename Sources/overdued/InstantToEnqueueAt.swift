import ArgumentParser
import Foundation
import OverduedConfig
import Scheduler
import Store

extension Instant {
    /// How far past this machine's clock `--now` may be when the command enqueues.
    static let enqueueTolerance: TimeInterval = 300

    /// The instant a command that enqueues evaluates at: `--now` if given, else the clock.
    /// A `--now` in the future is refused (exit 1): the notifications and dedup records would
    /// be dated then, holding back the real ones of those tickets until that time. One in the
    /// past is allowed with a note on stderr: the records are dated then too.
    static func toEnqueueAt(_ instant: Instant?, clock: Date = Date()) throws -> Date {
        guard let instant else { return clock }
        guard instant.date.timeIntervalSince(clock) <= enqueueTolerance else {
            printError("--now \(CivilDate.iso8601(instant.date)) is later than this machine's clock (\(CivilDate.iso8601(clock))): what this command enqueues would be dated then, and hold back real notifications of those tickets until that time. Look ahead with `overdued scan --dry-run --now ...` instead.")
            throw ExitCode(1)
        }
        if clock.timeIntervalSince(instant.date) > enqueueTolerance {
            // Allowed (a replay, a test on a copy), but on the live state database the records
            // are dated at the --now: the daemon's next tick weighs them as that old.
            printError("note: --now \(CivilDate.iso8601(instant.date)) is earlier than this machine's clock (\(CivilDate.iso8601(clock))): what this command enqueues is dated then, so the daemon's next tick may notify the same tickets again (a ticket notified after that instant is left alone). Replay on a copy of the state database, or use `overdued scan --dry-run --now ...`.")
        }
        return instant.date
    }
}

extension ScheduleSettings {
    /// The instant a run of `scan` or `once` evaluates at: by the machine's clock, the nearest
    /// slot of the configured schedule when within a second or two of it, as a tick of the
    /// daemon would (`TickSchedule.snapped`: a cron job a second earlier than yesterday's
    /// still repeats `every: "24h"`); an explicit `--now` is itself.
    func evaluationInstant(_ instant: Date, byClock: Bool) -> Date {
        byClock ? TickSchedule(interval: interval, align: align).snapped(instant) : instant
    }
}
