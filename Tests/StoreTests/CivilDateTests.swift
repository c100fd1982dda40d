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
}
