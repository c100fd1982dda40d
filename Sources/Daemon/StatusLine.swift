public import Foundation

/// The one-line `STATUS=` systemd shows in `systemctl status`: problems first, then the last
/// tick that evaluated the rules, matches, enqueued, queue depth, dead count, a destination
/// paused by its receiver, next tick (or the tick running now).
public struct StatusLine: Sendable, Equatable {
    /// The last tick that evaluated the rules (a skipped or failed one is not: it is
    /// `tickProblem`, with its own time), and what it found.
    public var lastTick: Date?
    public var matches = 0
    public var enqueued = 0
    public var queueDepth = 0
    public var dead = 0
    public var nextTick: Date?
    /// A tick evaluating now, due at this instant: shown instead of the next tick, which a
    /// long tick (or one run again after a reload) would leave in the past.
    public var tickRunningSince: Date?
    /// Destinations whose receiver asked to wait (`Retry-After`), or that wait because their
    /// answers crashed overdued, with when, by name: why the queue does not move. The first
    /// is named, the others counted.
    public var receiverPauses: [(destination: String, until: Date, crashingAnswers: Bool)] = []
    /// A refused reload: the previous config still runs. Stays until a reload succeeds,
    /// whatever the ticks do meanwhile.
    public var reloadProblem: String?
    /// Why the latest tick did not evaluate (database busy, file missing), with its time;
    /// cleared by the next tick that does.
    public var tickProblem: (due: Date, reason: String)?
    /// Why the notifier starts no delivery (`Notifier.deliveriesHeld`).
    public var deliveriesHeld: String?

    public init() {}

    public var text: String {
        var parts: [String] = []
        if let reloadProblem { parts.append(reloadProblem) }
        if let deliveriesHeld { parts.append(deliveriesHeld) }
        if let tickProblem { parts.append("tick \(Self.time(tickProblem.due)) \(tickProblem.reason)") }
        if let lastTick {
            parts.append("last tick \(Self.time(lastTick)): \(matches) matches, \(enqueued) enqueued")
        } else {
            parts.append("no tick yet")
        }
        parts.append("queue \(queueDepth), dead \(dead)")
        if let first = receiverPauses.first {
            let others = receiverPauses.count > 1 ? " (+\(receiverPauses.count - 1) more)" : ""
            let by = first.crashingAnswers ? "overdued (its answers crashed it)" : "its receiver"
            parts.append("\(first.destination) paused by \(by) until \(Self.time(first.until))\(others)")
        }
        if let tickRunningSince {
            parts.append("tick running since \(Self.time(tickRunningSince))")
        } else if let nextTick {
            parts.append("next tick \(Self.time(nextTick))")
        }
        return parts.joined(separator: "; ")
    }

    public static func == (lhs: StatusLine, rhs: StatusLine) -> Bool {
        lhs.text == rhs.text
    }

    static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}
