import Foundation
import Store
import Testing

@Suite struct CivilDateTests {
    @Test func knownDays() {
        #expect(CivilDate.days(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilDate.days(year: 2000, month: 3, day: 1) == 11_017)
        #expect(CivilDate.days(year: 1969, month: 12, day: 31) == -1)
        #expect(CivilDate.text(days: 20_781) == "2026-11-24")
        #expect(CivilDate.text(days: 11_016) == "2000-02-29")
        #expect(CivilDate.padded(7, 3) == "007")
        #expect(CivilDate.padded(12_345, 3) == "12345")
    }

    /// Every day from 1900 to 2100 round-trips and agrees with Foundation's Gregorian calendar.
    @Test func roundTripsAndAgreesWithTheGregorianCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        for days in stride(from: -25_567, through: 47_482, by: 1) {
            let (year, month, day) = CivilDate.date(days: days)
            #expect(CivilDate.days(year: year, month: month, day: day) == days)
            if days % 97 == 0 {
                let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(days) * 86_400))
                #expect(parts.year == year && parts.month == month && parts.day == day)
            }
        }
    }

    /// ISO 8601 text agrees with Foundation's formatter, before and after 1970, at every
    /// millisecond boundary; a year past 9999 still gets all its digits.
    @Test func iso8601AgreesWithFoundationsFormatter() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var seconds = -2_208_988_800.0 // 1900-01-01
        while seconds < 4_102_444_800 { // 2100-01-01
            for fraction in [0.0, 0.001, 0.0994, 0.5, 0.9996] {
                let date = Date(timeIntervalSince1970: seconds + fraction)
                let rounded = Date(timeIntervalSince1970: ((seconds + fraction) * 1000).rounded() / 1000)
                #expect(CivilDate.iso8601(date) == formatter.string(from: rounded), "\(seconds + fraction)")
            }
            seconds += 7_777_777.123
        }
        #expect(CivilDate.iso8601(Date(timeIntervalSince1970: 1_795_532_400)) == "2026-11-24T15:00:00.000Z")
        // Beyond four digits, ISO 8601's expanded years, as JavaScript's toISOString writes them
        // (a date before year 0 comes from `0000-01-01 12:00:00` in a zone east of UTC).
        #expect(CivilDate.iso8601(Date(timeIntervalSince1970: 253_402_300_800)) == "+010000-01-01T00:00:00.000Z")
        #expect(CivilDate.iso8601(Date(timeIntervalSince1970: -62_167_222_800)) == "-000001-12-31T23:00:00.000Z")
        #expect(CivilDate.iso8601(Date(timeIntervalSince1970: -62_167_219_200)) == "0000-01-01T00:00:00.000Z")
    }
}
