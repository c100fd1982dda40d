import Foundation
import Scheduler
import Store
import Testing
import TimeZoneRules

/// Every form of scheduled_date in the app's data, read in a zone.
struct ScheduledDateTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var raw: String
        var zone: String
        var expected: String
        var testDescription: String { "\(raw) in \(zone)" }
        init(_ raw: String, _ zone: String, _ expected: String) {
            (self.raw, self.zone, self.expected) = (raw, zone, expected)
        }
    }

    @Test(arguments: [
        // Naive 'YYYY-MM-DD HH:MM:SS', read in the configured zone.
        Case("2026-11-24 14:00:00", "UTC", "2026-11-24T14:00:00Z"),
        Case("2026-11-24 10:00:00", "America/Toronto", "2026-11-24T15:00:00Z"),   // winter: EST, -5
        Case("2026-07-15 10:00:00", "America/Toronto", "2026-07-15T14:00:00Z"),   // summer: EDT, -4
        Case("2026-11-24 10:00", "America/Toronto", "2026-11-24T15:00:00Z"),       // without seconds
        Case("2026-11-24T10:00:00", "America/Toronto", "2026-11-24T15:00:00Z"),    // T but no zone: still naive
        Case("2024-02-29 12:00:00", "UTC", "2024-02-29T12:00:00Z"),                // leap day
        Case("2000-02-29 12:00:00", "UTC", "2000-02-29T12:00:00Z"),                // leap day of a year divisible by 400
        // Date only: the end of that local day, as the app's 23:59:59 values meant.
        Case("2026-11-24", "UTC", "2026-11-24T23:59:59Z"),
        Case("2026-11-24", "America/Toronto", "2026-11-25T04:59:59Z"),
        Case("2026-07-15", "America/Toronto", "2026-07-16T03:59:59Z"),
        // ISO 8601 with T and Z or an offset: the zone setting does not apply.
        Case("2026-11-24T10:00:00+18:00", "UTC", "2026-11-23T16:00:00Z"),         // the widest offset
        Case("2026-11-24T14:00:00Z", "America/Toronto", "2026-11-24T14:00:00Z"),
        Case("2026-11-24T14:00:00z", "America/Toronto", "2026-11-24T14:00:00Z"),
        Case("2026-11-24T14:00:00.123Z", "America/Toronto", "2026-11-24T14:00:00.123Z"),
        Case("2026-11-24T14:00:00,5Z", "UTC", "2026-11-24T14:00:00.500Z"),
        Case("2026-11-24T09:00:00-05:00", "UTC", "2026-11-24T14:00:00Z"),
        Case("2026-11-24T16:00:00+0200", "America/Toronto", "2026-11-24T14:00:00Z"),
        Case("2026-11-24 19:30:00+05:30", "America/Toronto", "2026-11-24T14:00:00Z"),
        Case("2026-11-24T14:00:00.250+00:00", "America/Toronto", "2026-11-24T14:00:00.250Z"),
        Case(" 2026-11-24 14:00:00 ", "UTC", "2026-11-24T14:00:00Z"),
        // Fractions on naive times, including the day after a transition.
        Case("2026-11-24 09:00:00.500", "America/Toronto", "2026-11-24T14:00:00.500Z"),
        Case("2026-03-08 10:00:00.123", "America/Toronto", "2026-03-08T14:00:00.123Z"),
        Case("2026-11-01 10:00:00.123", "America/Toronto", "2026-11-01T15:00:00.123Z"),
        Case("2026-03-09 08:15:00.999", "America/Toronto", "2026-03-09T12:15:00.999Z"),
        // Spring forward, 2026-03-08 in Toronto: 02:00 EST becomes 03:00 EDT.
        Case("2026-03-08 01:59:59", "America/Toronto", "2026-03-08T06:59:59Z"),
        Case("2026-03-08 02:30:00", "America/Toronto", "2026-03-08T07:30:00Z"),   // does not exist: 03:30 EDT
        Case("2026-03-08 03:00:00", "America/Toronto", "2026-03-08T07:00:00Z"),
        Case("2026-03-08 12:00:00", "America/Toronto", "2026-03-08T16:00:00Z"),
        Case("2026-03-07 12:00:00", "America/Toronto", "2026-03-07T17:00:00Z"),
        // Fall back, 2026-11-01 in Toronto: 02:00 EDT becomes 01:00 EST.
        Case("2026-11-01 00:59:00", "America/Toronto", "2026-11-01T04:59:00Z"),
        Case("2026-11-01 01:30:00", "America/Toronto", "2026-11-01T05:30:00Z"),   // twice: the earlier
        Case("2026-11-01 02:00:00", "America/Toronto", "2026-11-01T07:00:00Z"),
        Case("2026-11-01 12:00:00", "America/Toronto", "2026-11-01T17:00:00Z"),
        Case("2026-10-31 12:00:00", "America/Toronto", "2026-10-31T16:00:00Z"),
        // Other zones with their own rules.
        Case("2026-03-29 02:30:00", "Europe/Paris", "2026-03-29T01:30:00Z"),     // gap: 03:30 CEST
        Case("2026-06-01 12:00:00", "Asia/Tokyo", "2026-06-01T03:00:00Z"),
    ])
    func readsAnInstant(_ c: Case) throws {
        let zone = try #require(ZoneRules.load(c.zone))
        let expected = try Instants.utc(c.expected)
        guard case .instant(let date) = ScheduledDate.parse(c.raw, in: zone) else {
            Issue.record("\(c.raw) did not parse: \(ScheduledDate.parse(c.raw, in: zone))")
            return
        }
        #expect(abs(date.timeIntervalSince(expected)) < 0.000_5, "\(date) != \(expected)")
    }

    @Test(arguments: [nil, "", "   ", "null", "NULL", "Null", " null "] as [String?])
    func noDateIsAbsent(_ raw: String?) {
        #expect(ScheduledDate.parse(raw, in: Instants.toronto) == .absent)
    }

    @Test(arguments: [
        "demain", "2026-02-30 10:00:00", "24/11/2026", "2026-13-01", "2026-00-10", "2026-11-31", "2026-02-29", "1900-02-29",
        "2026-11-24 24:00:00", "2026-11-24 10:60:00", "2026-11-24 10:00:00 garbage", "2026-11-24 10", "2026-11-24T",
        "2026-11-24T10:00:00+25:00", "2026-11-24T10:00:00+18:30", "2026-11-24T10:00:00-1801", "2026-11-24T10:00:00.Z", "26-11-24", "2026/11/24", "20261124", "2026-1-5",
        "2026-11-24 10:00:00Z extra", "٢٠٢٦-١١-٢٤",
    ])
    func garbageIsUnparseableAndKeepsTheRawText(_ raw: String) {
        #expect(ScheduledDate.parse(raw, in: Instants.toronto) == .unparseable(raw))
    }

    @Test func eachNaiveMinuteOfBothTransitionDaysMapsBackToItsWallTime() throws {
        // Over both 2026 transition days, every existing local minute parses to an instant
        // that Toronto shows as that same wall time; missing ones land one hour later.
        let zone = Instants.toronto
        for day in ["2026-03-08", "2026-11-01"] {
            for minute in stride(from: 0, to: 24 * 60, by: 1) {
                let wall = String(format: "%@ %02d:%02d:00", day, minute / 60, minute % 60)
                guard case .instant(let date) = ScheduledDate.parse(wall, in: zone) else {
                    Issue.record("\(wall) did not parse")
                    continue
                }
                let shown = (Int(date.timeIntervalSince1970) + zone.secondsFromGMT(for: date)) % 86_400 / 60
                let inGap = day == "2026-03-08" && minute / 60 == 2
                let expectedHour = inGap ? 3 : minute / 60
                #expect(shown / 60 == expectedHour && shown % 60 == minute % 60, "\(wall) → \(date)")
                if day == "2026-11-01" && minute / 60 == 1 {
                    #expect(zone.secondsFromGMT(for: date) == -14_400, "\(wall) must take the earlier (EDT) instant")
                }
            }
        }
    }

    /// The per-day offsets of a tick (`ZoneOffsets`) must read every wall time as the plain
    /// reading does, in zones with every kind of change: daylight saving, half-hour saving
    /// (Lord Howe), changes of the standard offset (Caracas 2007 and 2016, Moscow 2011 and
    /// 2014), a skipped day (Apia, 2011-12-30), and none (UTC, Kathmandu since 1986).
    @Test(arguments: ["America/Toronto", "Europe/London", "Australia/Lord_Howe", "America/Caracas", "Europe/Moscow",
                      "Pacific/Apia", "Asia/Kathmandu", "UTC"])
    func perDayOffsetsReadEveryWallTimeAsThePlainReadingDoes(_ identifier: String) throws {
        let zone = try #require(ZoneRules.load(identifier))
        let offsets = ZoneOffsets(zone)
        var checked = 0
        let first = CivilDate.days(year: 2005, month: 1, day: 1)
        let last = CivilDate.days(year: 2031, month: 1, day: 1)
        for day in first..<last {
            let date = CivilDate.text(days: day)
            for time in ["00:30:00", "01:30:00", "02:30:00", "03:00:00", "12:00:00", "23:45:00"] {
                let wall = date + " " + time
                let plain = ScheduledDate.parse(wall, in: zone)
                let perDay = ScheduledDate.parse(wall, reading: offsets)
                if plain != perDay {
                    Issue.record("\(identifier) \(wall): \(plain) plain, \(perDay) per day")
                    return
                }
                checked += 1
            }
            let dateOnly = ScheduledDate.parse(date, reading: offsets)
            #expect(dateOnly == ScheduledDate.parse(date, in: zone))
        }
        #expect(checked == (last - first) * 6)
    }
}
