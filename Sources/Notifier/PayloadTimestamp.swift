public import Foundation
import Store

/// How instants appear in payloads: ISO 8601 in UTC with milliseconds
/// (`2026-11-24T15:00:00.000Z`), the format of JavaScript's `Date.toISOString()` that the old
/// automation sent and that the app stores in `webhook_notifications.sent_at`.
public enum PayloadTimestamp {
    public static func iso8601(_ date: Date) -> String {
        // Rounded to the millisecond, the precision the state database keeps: a value read back
        // from the outbox formats exactly as it did before it was stored.
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = totalMilliseconds / 1000
        var milliseconds = totalMilliseconds % 1000
        if milliseconds < 0 {
            milliseconds += 1000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let hours = CivilDate.padded(secondOfDay / 3600, 2)
        let minutes = CivilDate.padded(secondOfDay % 3600 / 60, 2)
        let secondsText = CivilDate.padded(secondOfDay % 60, 2)
        let fraction = CivilDate.padded(milliseconds, 3)
        return CivilDate.text(days: Int(days)) + "T" + hours + ":" + minutes + ":" + secondsText + "." + fraction + "Z"
    }

    /// Unix seconds, as sent in `webhook-timestamp`.
    public static func unixSeconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}
