public import Foundation
import TimeZoneRules

/// Reads a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
public enum RetryAfter {
    /// The delay the receiver asks for, from `now`; nil when the header is unreadable.
    /// A date in the past gives zero. Clamping is the retry policy's business.
    public static func delay(_ header: String, now: Date) -> TimeInterval? {
        let text = header.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // Absurdly long digit strings still mean "a long time".
            return Double(text).map { max(0, $0) }
        }
        guard let date = httpDate(text, now: now) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// The header as the wait it asks for, in delay-seconds, when it is an HTTP-date and the
    /// response carries a readable `Date`: both come from the receiver's clock, so their
    /// difference is what the receiver means, however far its clock and this machine's are
    /// apart (RFC 9110 §6.6.1: a `Date` is the origin's idea of when it answered). Anything
    /// else comes back as it is, to be read against this machine's clock.
    public static func onReceiversClock(_ header: String, responseDate: String?) -> String {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard let responseDate, let asked = httpDate(text),
              let answered = httpDate(responseDate.trimmingCharacters(in: .whitespaces)) else { return header }
        return String(Int64(max(0, asked.timeIntervalSince(answered)).rounded(.up)))
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms senders
    /// must still be understood in (RFC 9110 §5.6.7): `Sunday, 06-Nov-94 08:49:37 GMT` and
    /// `Sun Nov  6 08:49:37 1994`. Read by hand, ASCII only: Foundation's `DateFormatter`
    /// trapped on some non-ASCII text (`… 08:49:37 ำ`: "Incorrect range"), which any receiver
    /// could send, in `Retry-After` or in `Date`, and crash overdued with (fuzzing found it);
    /// it also took other zones, other digits and five-digit years.
    /// `now`: what a two-digit year is read against.
    static func httpDate(_ text: String, now: Date = Date()) -> Date? {
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        let fields: (day: Substring, month: Substring, year: Substring, time: Substring)
        var yearDigits = 4
        if words.count == 6, words[0].hasSuffix(","), words[5] == "GMT" {
            fields = (words[1], words[2], words[3], words[4])                   // IMF-fixdate
        } else if words.count == 4, words[0].hasSuffix(","), words[3] == "GMT" {
            let parts = words[1].split(separator: "-", omittingEmptySubsequences: false)   // rfc850-date
            guard parts.count == 3 else { return nil }
            fields = (parts[0], parts[1], parts[2], words[2])
            yearDigits = 2
        } else if words.count == 5, !words[0].hasSuffix(",") {
            fields = (words[2], words[1], words[4], words[3])                   // asctime-date
        } else {
            return nil
        }
        let dayName = words[0].hasSuffix(",") ? words[0].dropLast() : words[0]
        guard dayName.count >= 3, dayName.allSatisfy(\.isLetter) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(where: { $0 == fields.month }),
              let day = digits(fields.day, count: 1...2), var year = digits(fields.year, count: yearDigits...yearDigits) else { return nil }
        if fields.year.count == 2 {
            // RFC 9110: a year more than 50 years ahead is the most recent past one with
            // those digits.
            let current = GregorianDays.date(days: Int((now.timeIntervalSince1970 / 86_400).rounded(.down))).year
            year += current - current % 100
            if year > current + 50 { year -= 100 }
        }
        let month = monthIndex + 1
        let time = fields.time.split(separator: ":", omittingEmptySubsequences: false)
        guard time.count == 3, let hour = digits(time[0], count: 2...2), let minute = digits(time[1], count: 2...2),
              let second = digits(time[2], count: 2...2), hour < 24, minute < 60, second <= 60,
              (1...GregorianDays.daysIn(month: month, year: year)).contains(day) else { return nil }
        let days = GregorianDays.days(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3_600 + minute * 60 + min(second, 59)))
    }

    /// `text` as a number, when it is `count` ASCII digits.
    private static func digits(_ text: Substring, count: ClosedRange<Int>) -> Int? {
        guard count.contains(text.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }
}
