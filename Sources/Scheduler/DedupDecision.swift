public import Foundation
public import OverduedConfig
public import Store

/// Whether an overdue ticket deserves a notification now, and if not, why. A pure function
/// of (rule, ticket, previous state, now), so it is tested over simulated time.
public enum DedupDecision: Sendable, Equatable {
    case notify(reason: String)
    case suppress(reason: String)

    public var shouldNotify: Bool {
        if case .notify = self { return true }
        return false
    }

    public var reason: String {
        switch self {
        case .notify(let reason), .suppress(let reason): reason
        }
    }

    /// - `repeat.on_change`: a watched field that differs from when the ticket was last
    ///   notified re-arms the rule at once.
    /// - `repeat.once_per_scheduled_date`: one notification per scheduled_date value; a new
    ///   date is a new deadline and notifies at once (`every` does not apply).
    /// - otherwise `repeat.every`: at most one notification per period.
    public static func decide(policy: RepeatSpec, ticket: TicketSnapshot, previous: DedupRecord?, now: Date) -> DedupDecision {
        guard let previous else { return .notify(reason: "first notification") }
        for field in policy.onChange {
            let changed: Bool = switch field {
            case .assignedTo: previous.assignedTo != ticket.assignedTo
            case .scheduledDate: previous.scheduledDate != ticket.scheduledDate
            case .status: previous.status != ticket.status
            case .priority: previous.priority != ticket.priority
            }
            if changed { return .notify(reason: "\(field.rawValue) changed since the last notification") }
        }
        if policy.oncePerScheduledDate {
            if previous.scheduledDate == ticket.scheduledDate {
                return .suppress(reason: "already notified for scheduled_date \(ticket.scheduledDate) (once_per_scheduled_date)")
            }
            return .notify(reason: "new scheduled_date since the last notification")
        }
        let elapsed = now.timeIntervalSince(previous.lastNotifiedAt)
        if elapsed < policy.every.seconds {
            let next = previous.lastNotifiedAt.addingTimeInterval(policy.every.seconds)
            return .suppress(reason: "notified \(Self.describe(elapsed)) ago; repeat.every is \(DurationText.format(policy.every)), next at \(Self.iso(next))")
        }
        return .notify(reason: "repeat.every (\(DurationText.format(policy.every))) has passed")
    }

    /// The state to remember after notifying.
    public static func record(rule: String, ticket: TicketSnapshot, at now: Date) -> DedupRecord {
        DedupRecord(rule: rule, ticket: ticket.ticket, lastNotifiedAt: now, scheduledDate: ticket.scheduledDate,
                    assignedTo: ticket.assignedTo, status: ticket.status, priority: ticket.priority)
    }

    static func describe(_ interval: TimeInterval) -> String {
        DurationText.format(.seconds(max(0, Int64(interval))))
    }

    /// Cheap enough to build for every suppressed match of every tick (Foundation's
    /// formatters cost more than the rest of the decision).
    static func iso(_ date: Date) -> String {
        CivilDate.iso8601(date)
    }
}
