public import Foundation
public import Logging
import OverduedConfig
public import Store

/// `store.history_retention`, as the daemon (once an hour) and `overdued once` (each run)
/// apply it: a bounded part of the expired history per call, the write-ahead log given back
/// once it is all gone.
public enum HistoryPruning {
    /// At most 100 transactions of 500 rows (50,000 notifications), and none started after a
    /// second: on a loaded machine a transaction of 2,000 took a quarter of a second or more,
    /// and 25 of them back to back held the tick for 6–9 s while deliveries, whose records get
    /// in only between two transactions, fell to a sixteenth of their pace.
    public static let batchesPerCall = 100
    public static let budgetPerCall: Duration = .seconds(1)

    /// The daemon's budget for one call: a second, or a quarter of the tick interval when that
    /// is shorter, so that pruning alone never makes a tick overrun its interval.
    public static func budget(tickInterval: Duration) -> Duration {
        min(budgetPerCall, tickInterval / 4)
    }

    /// How a call ended.
    public enum Outcome: Sendable, Equatable {
        case done
        /// Older history is left, for the next call.
        case more
        /// The state database refused (a full disk, which pruning is what frees, should not
        /// wait an hour for the next try).
        case failed
    }

    /// Deletes what ended before `now - retention`. A failure is logged (at debug level when
    /// `failedBefore`: said once while it lasts), not thrown: history is not worth a failed tick.
    @discardableResult
    public static func prune(_ outbox: Outbox, retention: Duration, now: Date, budget: Duration = budgetPerCall, logger: Logger,
                             failedBefore: Bool = false) -> Outcome {
        do {
            let pruned = try outbox.pruneHistory(before: now.addingTimeInterval(-retention.seconds), batches: batchesPerCall,
                                                  budget: budget)
            if pruned.removed > 0, !pruned.more {
                outbox.truncateWriteAheadLog()
            }
            if pruned.removed > 0 {
                let rest = pruned.more ? "; more next time" : ""
                logger.info("pruned \(pruned.removed) notification(s) older than \(DurationText.format(retention)) from the history\(rest)")
            }
            return pruned.more ? .more : .done
        } catch {
            logger.log(level: failedBefore ? .debug : .warning, "could not prune the history (tried again at each tick): \(error.description)")
            return .failed
        }
    }
}

/// When the daemon prunes: at its first tick, then at most once an hour, timed by the
/// monotonic clock. A wall-clock time would lie ahead after the clock was set back, and
/// pruning would stop until the clock caught up (the audit: an hour ahead, then years).
public struct PruneSchedule: Sendable {
    public static let interval: Duration = .seconds(3600)
    private var last: ContinuousClock.Instant?
    /// The last prune failed (said once; tried again at each tick until one succeeds).
    public var failing = false

    public init() {}

    /// Whether to prune at `now`; if so, the next one is an interval later.
    public mutating func isDue(at now: ContinuousClock.Instant) -> Bool {
        if let last, last.duration(to: now) < Self.interval { return false }
        last = now
        return true
    }

    /// Older history is left, or the last prune failed: prune again at the next tick.
    public mutating func again() { last = nil }
}
