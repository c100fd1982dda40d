public import Foundation
public import OverduedConfig
public import Store

/// The fields of a ticket that dedup compares: a matched ticket during a tick, or the full
/// snapshot.
public protocol DedupSubject {
    /// tickets.id
    var ticket: Int64 { get }
    /// The human id (`tickets.ticket_id`), or `#<id>` for a row without one.
    var ticketID: String { get }
    var scheduledDate: String { get }
    var assignedTo: Int64? { get }
    var status: String { get }
    var priority: String { get }
}

extension TicketSnapshot: DedupSubject {}

/// Whether an overdue ticket deserves a notification now, and if not, why. A pure function
/// of (rule, ticket, previous state, now), so it is tested over simulated time. The reason is
/// kept as data and written out only when someone reads it (a quiet tick decides thousands
/// of suppressions and prints none).
public enum DedupDecision: Sendable, Equatable {
    case notify(Notify)
    case suppress(Suppress)

    public enum Notify: Sendable, Equatable {
        case first
        case changed(ChangeField)
        case newScheduledDate
        case periodPassed(every: Duration)
        /// The record under this `tickets.id` is of another ticket (the human id it names):
        /// the app's database, restored from a backup, handed the id out again.
        case anotherTicket(notified: String)
    }

    public enum Suppress: Sendable, Equatable {
        case alreadyForScheduledDate(String)
        case withinPeriod(elapsed: TimeInterval, every: Duration, lastNotifiedAt: Date)
        case stillQueued
        /// Another overdued process (a tick or a `scan` beside this one) notified the ticket
        /// after this one read its state.
        case notifiedMeanwhile
        /// A scan at another instant than the machine's clock (`--now`) found the ticket
        /// notified after that instant: what happened then cannot be replayed, and notifying
        /// would date the record back (the next real tick would notify again).
        case notifiedAfterNow(Date)
        /// The last notification is dated more than `futureTolerance` after the machine's
        /// clock: the clock was set back since (NTP correcting a clock that ran ahead, a VM
        /// restored from a snapshot). It may have gone out a moment ago, so it is counted as
        /// notified now: the scan re-dates the record to now (`Outbox.redateNotifiedInTheFuture`),
        /// and `every` runs from there. Waiting for the date itself could take as long as the
        /// clock's error (years, for a clock that read 2036); notifying at once sent every ticket
        /// notified within that error again, under new webhook-ids.
        case notifiedInTheFuture(Date)
    }

    public var shouldNotify: Bool {
        if case .notify = self { return true }
        return false
    }

    /// Whether a notification of the ticket by this rule still queued for a destination holds
    /// this one back there. Holding back keeps repeats that time alone brings (`repeat.every`,
    /// a clock set back) from piling up behind a failing destination. A change (a watched
    /// field, a new scheduled date) is not held back: it tells the receiver something the
    /// queued notification does not, and it is queued behind that one.
    public var isHeldBackByQueued: Bool {
        switch self {
        case .notify(.changed), .notify(.newScheduledDate), .notify(.anotherTicket): false
        case .notify(.first), .notify(.periodPassed): true
        case .suppress: false
        }
    }

    public var reason: String {
        switch self {
        case .notify(.first):
            "first notification"
        case .notify(.changed(let field)):
            "\(field.rawValue) changed since the last notification"
        case .notify(.newScheduledDate):
            "new scheduled_date since the last notification"
        case .notify(.periodPassed(let every)):
            "repeat.every (\(DurationText.format(every))) has passed"
        case .notify(.anotherTicket(let notified)):
            "first notification of this ticket: the earlier ones under its id were of ticket_id \(notified) "
                + "(the app's database handed the id out again)"
        case .suppress(.alreadyForScheduledDate(let date)):
            "already notified for scheduled_date \(date) (once_per_scheduled_date)"
        case .suppress(.withinPeriod(let elapsed, let every, let last)):
            "notified \(Self.describe(elapsed)) ago; repeat.every is \(DurationText.format(every)), next at \(CivilDate.iso8601(last.addingTimeInterval(every.seconds)))"
        case .suppress(.stillQueued):
            "a notification of this ticket by this rule is still queued"
        case .suppress(.notifiedMeanwhile):
            "notified meanwhile by another overdued process (a tick or a scan beside this one)"
        case .suppress(.notifiedAfterNow(let last)):
            "last notified at \(CivilDate.iso8601(last)), after --now: a scan at an earlier instant does not notify it again"
        case .suppress(.notifiedInTheFuture(let last)):
            "the last notification is dated \(CivilDate.iso8601(last)), later than now: the clock was set back since; "
                + "counted as notified now (repeat.every runs from now)"
        }
    }

    /// - `repeat.on_change`: a watched field that differs from when the ticket was last
    ///   notified re-arms the rule at once.
    /// - `repeat.once_per_scheduled_date`: one notification per scheduled_date value, ever;
    ///   a date never notified is a new deadline and notifies at once (`every` does not apply).
    /// - otherwise `repeat.every`: at most one notification per period.
    /// - Parameter notifiedDates: the scheduled dates the ticket was notified for by this rule
    ///   before (all of them, the last one included or not): under `once_per_scheduled_date`
    ///   a date moved back to one of them is not new.
    /// - Parameter atMachineClock: `now` is the machine's clock (not a `--now`): a last
    ///   notification dated after it means the clock was set back, and counts as notified now
    ///   (`notifiedInTheFuture`); otherwise it means a notification after the instant asked
    ///   about. Both suppress.
    public static func decide(policy: RepeatSpec, ticket: some DedupSubject, previous: DedupRecord?,
                              notifiedDates: Set<String> = [], now: Date, atMachineClock: Bool = true) -> DedupDecision {
        if let previous, let notified = otherTicket(previous, ticket) {
            // Nothing of the record applies: not its time, its fields, nor its dates.
            return .notify(.anotherTicket(notified: notified))
        }
        guard let previous else {
            // No dedup state, but dates notified before (a withdrawal took the state back).
            if policy.oncePerScheduledDate, notifiedDates.contains(ticket.scheduledDate) {
                return .suppress(.alreadyForScheduledDate(ticket.scheduledDate))
            }
            return .notify(.first)
        }
        if !atMachineClock, now.timeIntervalSince(previous.lastNotifiedAt) < -futureTolerance {
            return .suppress(.notifiedAfterNow(previous.lastNotifiedAt))
        }
        for field in policy.onChange {
            let changed: Bool = switch field {
            case .assignedTo: previous.assignedTo != ticket.assignedTo
            case .scheduledDate: previous.scheduledDate != ticket.scheduledDate
            case .status: previous.status != ticket.status
            case .priority: previous.priority != ticket.priority
            }
            if changed { return .notify(.changed(field)) }
        }
        if policy.oncePerScheduledDate {
            if previous.scheduledDate == ticket.scheduledDate || notifiedDates.contains(ticket.scheduledDate) {
                return .suppress(.alreadyForScheduledDate(ticket.scheduledDate))
            }
            return .notify(.newScheduledDate)
        }
        let elapsed = now.timeIntervalSince(previous.lastNotifiedAt)
        if elapsed < -futureTolerance { return .suppress(.notifiedInTheFuture(previous.lastNotifiedAt)) }
        if elapsed < policy.every.seconds {
            return .suppress(.withinPeriod(elapsed: elapsed, every: policy.every, lastNotifiedAt: previous.lastNotifiedAt))
        }
        return .notify(.periodPassed(every: policy.every))
    }

    /// The human id the record names when it is not the ticket's: another ticket was notified
    /// under this `tickets.id`. nil when they agree, or when either is not known (a record
    /// without one, a row without one: `#<id>`). Spaces and case are not told apart (the app's
    /// older ids held spaces, a clean-up may drop them).
    static func otherTicket(_ record: DedupRecord, _ ticket: some DedupSubject) -> String? {
        guard let notified = record.ticketID else { return nil }
        return namesAnotherTicket(notified, ticket.ticketID, id: ticket.ticket) ? notified : nil
    }

    /// Whether the human id `recorded` under `tickets.id` `id` names another ticket than
    /// `current` does (see `otherTicket`).
    public static func namesAnotherTicket(_ recorded: String, _ current: String, id: Int64) -> Bool {
        guard recorded != current else { return false }
        let placeholder = "#\(id)"
        guard recorded != placeholder, current != placeholder, !recorded.isEmpty else { return false }
        func folded(_ text: String) -> String { text.filter { !$0.isWhitespace }.uppercased() }
        return folded(recorded) != folded(current)
    }

    /// How far past now a last notification may be dated before it counts as a clock set back.
    public static let futureTolerance: TimeInterval = 300

    /// The state to remember after notifying.
    public static func record(rule: String, ticket: some DedupSubject, at now: Date) -> DedupRecord {
        DedupRecord(rule: rule, ticket: ticket.ticket, lastNotifiedAt: now, scheduledDate: ticket.scheduledDate,
                    assignedTo: ticket.assignedTo, status: ticket.status, priority: ticket.priority, ticketID: ticket.ticketID)
    }

    static func describe(_ interval: TimeInterval) -> String {
        DurationText.format(.seconds(max(0, Int64(interval))))
    }
}
