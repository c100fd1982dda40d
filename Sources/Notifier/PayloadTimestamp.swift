public import Foundation
import Store

/// How instants appear in payloads: ISO 8601 in UTC with milliseconds
/// (`2026-11-24T15:00:00.000Z`), the format of JavaScript's `Date.toISOString()` that the old
/// automation sent and that the app stores in `webhook_notifications.sent_at`.
public enum PayloadTimestamp {
    public static func iso8601(_ date: Date) -> String {
        CivilDate.iso8601(date)
    }

    /// The instant a request is stamped with, in whole milliseconds (rounded down): the body's
    /// timestamp (milliseconds) and `webhook-timestamp` (seconds, rounded down) then name the
    /// same second. From `.9995` s on, the body's rounding to the millisecond went to the next
    /// second while the header stayed on this one.
    public static func requestInstant(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// Unix seconds, as sent in `webhook-timestamp`.
    public static func unixSeconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}
