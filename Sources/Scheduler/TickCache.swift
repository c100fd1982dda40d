import Foundation
public import TimeZoneRules
public import Store
import Synchronization

/// A candidate row with its scheduled_date already read in the store's zone.
public struct DatedCandidate: Sendable, Equatable {
    public var candidate: TicketCandidate
    public var date: ScheduledDate

    public init(_ candidate: TicketCandidate, zone: ZoneRules) {
        self.candidate = candidate
        self.date = ScheduledDate.parse(candidate.scheduledDate, in: zone)
    }

    public init(_ candidate: TicketCandidate, offsets: ZoneOffsets) {
        self.candidate = candidate
        self.date = ScheduledDate.parse(candidate.scheduledDate, reading: offsets)
    }
}

extension DatedCandidate {
    /// Whether the rule's overdue test passes at `now` (false for absent or unreadable dates).
    func isOverdue(grace: Duration, at now: Date) -> Bool {
        if case .instant(let dueAt) = date { return RulesEngine.isOverdue(dueAt: dueAt, grace: grace, at: now) }
        return false
    }
}

/// What the daemon's last ticks read and decided, kept while their inputs are provably
/// unchanged. A tick is a function of the tickets database, the dedup state, the rules and the
/// clock; the cache remembers two things:
///
/// - **each rule's candidate rows**, reused while SQLite's `data_version` says no other
///   connection committed to the tickets database and the rule compiles to the same query
///   (its date cutoff moves once a day). Dedup state is read again every tick.
/// - **a quiet result**: when a tick decided to suppress every match by dedup
///   (`repeat.every` not yet elapsed, or `once_per_scheduled_date`) and enqueued nothing, the
///   next tick returns that result without reading anything more, provided the tickets
///   database, the dedup state (its generation counter) and the queries are the same and the
///   clock has not reached the first instant at which a decision could change: the next
///   candidate's due time (plus grace) or the first `repeat.every` expiry.
///
/// A reload starts a cache that carries the rows over (they answer only a rule whose query
/// and zone are unchanged) but not the quiet result (it also depends on the rules' repeat and
/// destinations). A tickets
/// database opened again (another path, a file replaced or rewritten in place,
/// `TicketsDatabase.fileChange`, which `data_version` does not show) starts a new cache.
public final class TickCache: Sendable {
    /// What a tick's result depends on, besides the clock.
    struct Inputs: Equatable {
        var dataVersion: Int64
        var dedupGeneration: Int64
        var filters: [TicketFilter]
        var zone: ZoneRules
    }

    private struct Rows {
        var filter: TicketFilter
        var zone: ZoneRules
        var dataVersion: Int64
        var rows: [DatedCandidate]
    }

    struct Quiet {
        var inputs: Inputs
        /// The result holds for any `now` from `evaluatedAt` up to (not including) this.
        var until: Date
        var evaluatedAt: Date
        var matches: [RuleMatch]
    }

    private struct State {
        var rows: [String: Rows] = [:]
        var quiet: Quiet?
    }

    private let state = Mutex(State())

    public init() {}

    /// The rows remembered for this rule, if they still answer this query.
    func rows(rule: String, filter: TicketFilter, zone: ZoneRules, dataVersion: Int64) -> [DatedCandidate]? {
        state.withLock { state in
            guard let entry = state.rows[rule], entry.dataVersion == dataVersion, entry.filter == filter,
                  entry.zone == zone else { return nil }
            return entry.rows
        }
    }

    func store(_ rows: [DatedCandidate], rule: String, filter: TicketFilter, zone: ZoneRules, dataVersion: Int64) {
        state.withLock { $0.rows[rule] = Rows(filter: filter, zone: zone, dataVersion: dataVersion, rows: rows) }
    }

    /// The last quiet result, if it still holds for these inputs at `now`.
    func quiet(inputs: Inputs, now: Date) -> Quiet? {
        state.withLock { state in
            guard let quiet = state.quiet, quiet.inputs == inputs, now >= quiet.evaluatedAt, now < quiet.until else { return nil }
            return quiet
        }
    }

    func setQuiet(_ quiet: Quiet?) {
        state.withLock { $0.quiet = quiet }
    }

    /// For a reload: a new cache with these rows and no result, so the next tick decides
    /// again from the rows of the rules whose query did not change. A new object, not this one
    /// emptied: a tick running now, with the rules from before the reload, keeps writing here,
    /// and what it decides does not outlive them.
    public func carryingRows() -> TickCache {
        let carried = TickCache()
        let rows = state.withLock { $0.rows }
        carried.state.withLock { $0.rows = rows }
        return carried
    }
}
