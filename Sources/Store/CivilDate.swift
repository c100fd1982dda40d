public import Foundation
public import TimeZoneRules

/// Gregorian calendar arithmetic on day counts since 1970-01-01 (`GregorianDays`), and the
/// zero-padded text of dates as the app stores them. No Calendar, DateFormatter or locale objects: no time zone can slip in, and
/// these run for every row of a tick, of a payload, of a generated demo database
/// (`String(format:)` and DateFormatter are slow on Linux).
public enum CivilDate {
    /// The day count of a proleptic Gregorian date.
    @inlinable
    public static func days(year: Int, month: Int, day: Int) -> Int {
        GregorianDays.days(year: year, month: month, day: day)
    }

    /// The proleptic Gregorian date of a day count.
    @inlinable
    public static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        GregorianDays.date(days: days)
    }

    /// `YYYY-MM-DD` of a day count; a year outside 0...9999 in ISO 8601's expanded form, a sign
    /// and six digits (`-000001-12-31`, `+010000-01-01`), as JavaScript writes it.
    public static func text(days: Int) -> String {
        let (year, month, day) = date(days: days)
        guard (0...9999).contains(year) else {
            return (year < 0 ? "-" : "+") + padded(year.magnitude, 6) + "-" + padded(month, 2) + "-" + padded(day, 2)
        }
        return String(unsafeUninitializedCapacity: 10) { buffer in
            write(year: year, month: month, day: day, into: buffer)
            return 10
        }
    }

    /// `YYYY-MM-DD` into the first 10 bytes of `buffer`; the year is 0...9999.
    private static func write(year: Int, month: Int, day: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        write(year, digits: 4, at: 0, into: buffer)
        buffer[4] = UInt8(ascii: "-")
        write(month, digits: 2, at: 5, into: buffer)
        buffer[7] = UInt8(ascii: "-")
        write(day, digits: 2, at: 8, into: buffer)
    }

    /// `value` (not negative, under 10^digits) as `digits` zero-padded decimal digits.
    private static func write(_ value: Int, digits: Int, at start: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        var rest = value
        for index in stride(from: start + digits - 1, through: start, by: -1) {
            buffer[index] = UInt8(truncatingIfNeeded: 48 + rest % 10)
            rest /= 10
        }
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
        let (year, month, day) = Self.date(days: Int(days))
        let (hour, minute, second) = (Int(secondOfDay / 3600), Int(secondOfDay % 3600 / 60), Int(secondOfDay % 60))
        guard (0...9999).contains(year) else {
            return text(days: Int(days)) + "T" + padded(hour, 2) + ":" + padded(minute, 2) + ":" + padded(second, 2)
                + "." + padded(milliseconds, 3) + "Z"
        }
        // Written into place: this runs for every payload and every line of `overdued scan`.
        return String(unsafeUninitializedCapacity: 24) { buffer in
            write(year: year, month: month, day: day, into: buffer)
            buffer[10] = UInt8(ascii: "T")
            write(hour, digits: 2, at: 11, into: buffer)
            buffer[13] = UInt8(ascii: ":")
            write(minute, digits: 2, at: 14, into: buffer)
            buffer[16] = UInt8(ascii: ":")
            write(second, digits: 2, at: 17, into: buffer)
            buffer[19] = UInt8(ascii: ".")
            write(Int(milliseconds), digits: 3, at: 20, into: buffer)
            buffer[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}
