public import Foundation
import TimeZoneRules

/// An instant an operator gives on the command line (`--now`, `--since`): ISO 8601 with its
/// zone (`2026-11-24T15:00:00Z`, `2026-11-24T10:00:00-05:00`), fractional seconds allowed,
/// or another spelling of the tickets' own dates with a zone of its own. A refused text says
/// why, in words the command prints as they are.
public enum InstantText {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ argument: String) throws(Invalid) -> Date {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // Foundation's reader only for its own shape, with a fraction of at most 9 digits: on
        // some long fractions ICU divided by zero (SIGFPE: the command died; fuzzing), and it
        // read `.1e9` as sixteen days. Other spellings go to the tickets' date reader below.
        let strict = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})$/
        func date(_ text: String) -> Date? {
            guard text.wholeMatch(of: strict) != nil else { return nil }
            return plain.date(from: text) ?? fractional.date(from: text)
        }
        let example = "e.g. 2026-11-24T15:00:00Z or 2026-11-24T10:00:00-05:00"
        // Foundation's reader rolls impossible fields over (2026-11-31 is December 1st, an
        // offset of +25:00 is read as some other one): they are refused here first.
        if let problem = fieldProblem(argument) {
            throw Invalid(description: "\(problem), \(example)")
        }
        // The other spellings a stored date may have (a space for `T`, `z`, no seconds, an
        // offset without its colon), with a zone of their own: read as the tickets' dates are.
        let zoned = argument.dropFirst(10).contains { $0 == "Z" || $0 == "z" || $0 == "+" || $0 == "-" }
        var alternative: Date?
        if zoned, case .instant(let instant) = ScheduledDate.parse(argument, in: .utc) { alternative = instant }
        if let date = date(argument) ?? alternative {
            // Foundation's calendar turns Julian before 1582-10-15, while dates are read in the
            // proleptic Gregorian calendar (as ISO 8601 says): such an instant would be days off.
            guard date.timeIntervalSince1970 >= -12_212_553_600 else {
                throw Invalid(description: "an instant before 1583 is not supported (the Julian calendar was in use then), \(example)")
            }
            return date
        }
        // Naive: the same text with a zone added would be read, but in which zone is a guess.
        var readAsNaive = false
        if !zoned, case .instant = ScheduledDate.parse(argument, in: .utc) { readAsNaive = true }
        if date(argument + "Z") != nil || readAsNaive {
            throw Invalid(description: "it has no time zone; add Z (UTC) or an offset ±HH:MM, \(example)")
        }
        throw Invalid(description: "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)")
    }

    /// What is out of range in a text shaped `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`: a month,
    /// a day the month does not have, an hour, minute or second, an offset beyond ±18:00. Nil
    /// when each field is in range, or when the text has another shape (the reader decides).
    static func fieldProblem(_ text: String) -> String? {
        // ASCII digits: `\d` takes any script's, which `Int` then cannot read (the checks were skipped).
        let shape = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,][0-9]+)?(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))$/
        guard let match = text.wholeMatch(of: shape), let year = Int(match.1), let month = Int(match.2), let day = Int(match.3),
              let hour = Int(match.4), let minute = Int(match.5), let second = Int(match.6) else { return nil }
        guard (1...12).contains(month) else { return "month \(match.2) does not exist" }
        guard (1...GregorianDays.daysIn(month: month, year: year)).contains(day) else { return "\(match.1)-\(match.2) has no day \(match.3)" }
        guard hour <= 23, minute <= 59, second <= 59 else { return "\(match.4):\(match.5):\(match.6) is not a time of day" }
        if let hours = match.8.flatMap({ Int($0) }), let minutes = match.9.flatMap({ Int($0) }),
           minutes > 59 || hours * 60 + minutes > 18 * 60 {
            return "the offset \(match.7 ?? "")\(match.8 ?? ""):\(match.9 ?? "") is not one (at most ±18:00)"
        }
        return nil
    }
}
