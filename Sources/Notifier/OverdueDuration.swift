public import Foundation

/// How long a ticket has been overdue when a notification is sent, split the way the old
/// automation showed it (`2 jour(s) 9h 26min`). Seconds are dropped, never rounded up, so a
/// ticket 59 s late reads "0h 0min" rather than claiming a minute it has not reached.
public struct OverdueDuration: Sendable, Equatable {
    /// Whole seconds past the due time; 0 when not yet due (a clock step backwards).
    public let totalSeconds: Int64

    public init(dueAt: Date, sentAt: Date) {
        let seconds = (sentAt.timeIntervalSince1970 - dueAt.timeIntervalSince1970).rounded(.down)
        totalSeconds = seconds > 0 ? Int64(seconds) : 0
    }

    public init(totalSeconds: Int64) {
        self.totalSeconds = max(0, totalSeconds)
    }

    public var days: Int64 { totalSeconds / 86_400 }
    public var hours: Int64 { totalSeconds % 86_400 / 3_600 }
    public var minutes: Int64 { totalSeconds % 3_600 / 60 }

    /// `"2 jour(s) 9h 26min"`, or `"9h 26min"` under a day: the old automation's French text.
    public var frenchText: String {
        let clock = "\(hours)h \(minutes)min"
        return days > 0 ? "\(days) jour(s) \(clock)" : clock
    }
}
