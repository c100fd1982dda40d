public import Foundation

/// The one-line `STATUS=` systemd shows in `systemctl status`: last tick, matches, enqueued,
/// queue depth, dead count, next tick.
public struct StatusLine: Sendable, Equatable {
    public var lastTick: Date?
    public var matches = 0
    public var enqueued = 0
    public var queueDepth = 0
    public var dead = 0
    public var nextTick: Date?
    /// A problem worth showing first (a refused reload, a busy database).
    public var alert: String?

    public init() {}

    public var text: String {
        var parts: [String] = []
        if let alert { parts.append(alert) }
        if let lastTick {
            parts.append("last tick \(Self.time(lastTick)): \(matches) matches, \(enqueued) enqueued")
        } else {
            parts.append("no tick yet")
        }
        parts.append("queue \(queueDepth), dead \(dead)")
        if let nextTick { parts.append("next tick \(Self.time(nextTick))") }
        return parts.joined(separator: "; ")
    }

    static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}
