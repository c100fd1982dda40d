public import Foundation
import Store

/// How instants appear in payloads: ISO 8601 in UTC with milliseconds
/// (`2026-11-24T15:00:00.000Z`), the format of JavaScript's `Date.toISOString()` that the old
/// automation sent and that the app stores in `webhook_notifications.sent_at`.
public enum PayloadTimestamp {
    public static func iso8601(_ date: Date) -> String {
        CivilDate.iso8601(date)
    }

    /// Unix seconds, as sent in `webhook-timestamp`.
    public static func unixSeconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}
