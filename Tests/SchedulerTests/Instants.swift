import Foundation
import Testing
import TimeZoneRules

/// Instants written as ISO 8601 text, so that a test reads like the dates it is about.
enum Instants {
    static func utc(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        if text.contains(".") { formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds] }
        return try #require(formatter.date(from: text), "not an ISO 8601 instant: \(text)")
    }

    static let toronto = ZoneRules.load("America/Toronto") ?? .utc
    static let utcZone = ZoneRules.utc

    /// 2026-11-24T15:00:00Z: 10:00 EST in Toronto.
    static let now = Date(timeIntervalSince1970: 1_795_532_400)
}
