public import OverduedConfig
public import Store

/// Which dead notifications `overdued queue retry` puts back in the queue. A notification
/// died while its receiver was down or refused it; by the time an operator requeues it, its
/// ticket may be closed, rescheduled or reassigned, its rule or destination gone from the
/// config, or a newer notification may have been sent for it. Sending it then would tell a
/// technician about work that is done, or repeat an alert, older: those are left dead, with
/// the reason (`--force` requeues them too).
public struct RequeueReview: Sendable {
    public enum Reason: Sendable, Equatable {
        /// Its rule is no longer in the config.
        case ruleRemoved
        /// Its destination is no longer in the config: the next tick would withdraw it.
        case destinationRemoved
        /// Its rule no longer names its destination (the next tick would withdraw it).
        case destinationDropped
        /// A newer notification of the same rule, ticket and destination was queued or
        /// delivered since (its id).
        case superseded(by: String)
        /// Its rule no longer selects the ticket: closed, rescheduled, reassigned or deleted.
        case noLongerSelected

        public var text: String {
            switch self {
            case .ruleRemoved: "its rule is no longer in the config"
            case .destinationRemoved: "its destination is no longer in the config"
            case .destinationDropped: "its rule no longer sends to this destination"
            case .superseded(let newer): "\(newer), a newer notification for the same ticket, rule and destination, was queued or delivered since"
            case .noLongerSelected: "its rule no longer selects the ticket (closed, rescheduled, reassigned or deleted since)"
            }
        }
    }

    /// To requeue, oldest first.
    public var requeue: [Outbox.Dead] = []
    /// Left dead, with why.
    public var kept: [(notification: Outbox.Dead, reason: Reason)] = []
    /// Requeued without their tickets read (the tickets database could not be read).
    public var unweighed = 0

    /// `requeue` as they are: `--force`.
    public init(requeue: [Outbox.Dead]) {
        self.requeue = requeue
    }

    /// Why the config no longer routes this notification anywhere, or nil.
    private static func notRouted(_ notification: Outbox.Dead, rule: RuleSpec?, destinations: Set<String>) -> Reason? {
        guard let rule else { return .ruleRemoved }
        if !destinations.contains(notification.destination) { return .destinationRemoved }
        return rule.destinations.contains(notification.destination) ? nil : .destinationDropped
    }

    /// - Parameter standing: of the rule's tickets, those it selects now (see
    ///   `RulesEngine.standing`); nil when the tickets cannot be read, and then the rule's
    ///   notifications are requeued unweighed, as they were before.
    public static func review(_ dead: [Outbox.Dead], rules: [RuleSpec], destinations: Set<String>,
                              standing: (RuleSpec, [Int64]) -> Set<Int64>?) -> RequeueReview {
        var review = RequeueReview(requeue: [])
        var verdicts: [Int64: Reason] = [:]
        var toWeigh: [String: [Outbox.Dead]] = [:]
        let rulesByName = Dictionary(rules.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for notification in dead {
            let rule = rulesByName[notification.rule]
            if let reason = Self.notRouted(notification, rule: rule, destinations: destinations)
                ?? notification.supersededBy.map(Reason.superseded(by:)) {
                verdicts[notification.rowid] = reason
            } else {
                toWeigh[notification.rule, default: []].append(notification)
            }
        }
        var unweighed: Set<Int64> = []
        for (name, group) in toWeigh.sorted(by: { $0.key < $1.key }) {
            guard let rule = rulesByName[name] else { continue }
            guard let selected = standing(rule, group.map(\.ticket)) else {
                unweighed.formUnion(group.map(\.rowid))
                continue
            }
            for notification in group where !selected.contains(notification.ticket) {
                verdicts[notification.rowid] = .noLongerSelected
            }
        }
        for notification in dead {
            if let reason = verdicts[notification.rowid] {
                review.kept.append((notification, reason))
            } else {
                review.requeue.append(notification)
            }
        }
        review.unweighed = unweighed.count
        return review
    }
}
