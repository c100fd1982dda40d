public import Foundation

/// Gregorian calendar arithmetic on day counts since 1970-01-01 (Howard Hinnant's
/// `days_from_civil` / `civil_from_days`), and the zero-padded text of dates as the app
/// stores them. No Calendar, DateFormatter or locale objects: no time zone can slip in, and
/// these run for every row of a tick, of a payload, of a generated demo database
/// (`String(format:)` and DateFormatter are slow on Linux).
public enum CivilDate {
    /// The day count of a proleptic Gregorian date.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count.
    public static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `YYYY-MM-DD` of a day count.
    public static func text(days: Int) -> String {
        let (year, month, day) = date(days: days)
        return padded(year, 4) + "-" + padded(month, 2) + "-" + padded(day, 2)
    }

    /// `value` in decimal, zero-padded to `width` digits.
    public static func padded<Value: BinaryInteger>(_ value: Value, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// ISO 8601 in UTC with milliseconds (`2026-11-24T15:00:00.000Z`), as JavaScript's
    /// `Date.toISOString()` writes it.
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
        let hours = padded(secondOfDay / 3600, 2)
        let minutes = padded(secondOfDay % 3600 / 60, 2)
        let secondsText = padded(secondOfDay % 60, 2)
        let fraction = padded(milliseconds, 3)
        return text(days: Int(days)) + "T" + hours + ":" + minutes + ":" + secondsText + "." + fraction + "Z"
    }
}
