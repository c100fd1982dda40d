public import Foundation

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
        guard let date = httpDate(text) else { return nil }
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
    /// must still be understood in.
    static func httpDate(_ text: String) -> Date? {
        for pattern in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            // A formatter per call: not Sendable, and Retry-After dates are rare.
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = pattern
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
