import Foundation

/// Durations in the config are strings: `"200ms"`, `"30s"`, `"5m"`, `"24h"`, `"7d"`, or a sum
/// of such parts (`"1h30m"`). Numbers without a unit are refused: "5" could mean seconds or
/// minutes, and a wrong guess would silently change how often people are paged.
public enum DurationText {
    public struct ParseError: Error, Equatable, Sendable {
        public let message: String
    }

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw ParseError(message: "is empty; write a duration such as \"30s\", \"5m\" or \"24h\"")
        }
        var total = Duration.zero
        var totalMilliseconds: Double = 0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !digits.isEmpty, let amount = Double(digits), amount.isFinite else {
                throw ParseError(message: "\"\(text)\" is not a duration; write a number followed by ms, s, m, h or d (e.g. \"30s\", \"5m\", \"1h30m\")")
            }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let millisecondsPerUnit: Double
            switch unit {
            case "ms": millisecondsPerUnit = 1
            case "s": millisecondsPerUnit = 1_000
            case "m": millisecondsPerUnit = 60_000
            case "h": millisecondsPerUnit = 3_600_000
            case "d": millisecondsPerUnit = 86_400_000
            case "" where !rest.isEmpty:
                throw ParseError(message: "\"\(text)\" is not a duration; write a number followed by ms, s, m, h or d (e.g. \"30s\", \"5m\", \"1h30m\")")
            case "":
                throw ParseError(message: "\"\(text)\" has a number without a unit; add one of ms, s, m, h, d (e.g. \"\(digits)s\")")
            default:
                throw ParseError(message: "\"\(text)\" has an unknown unit \"\(unit)\"; use ms, s, m, h or d")
            }
            let milliseconds = amount * millisecondsPerUnit
            totalMilliseconds += milliseconds
            // The sum, not each part: every duration must fit the conversions made of it
            // (a timeout in nanoseconds holds about 292 years).
            guard totalMilliseconds < 100 * 365 * 86_400_000 else {
                throw ParseError(message: "\"\(text)\" is too long (more than 100 years)")
            }
            total += .milliseconds(Int64(milliseconds.rounded()))
        }
        return total
    }

    private static let units: [(String, UInt64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]

    /// The shortest text that parses back to `duration` (whole milliseconds).
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.milliseconds
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds.magnitude
        // Written byte by byte: it labels every line of `overdued scan` and many log lines.
        // At most a sign, 5 units of up to 20 digits and 2 letters; a result of up to 15
        // bytes is stored inline in the String, with no allocation.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1 + 5 * 22) { buffer in
            var end = 0
            if milliseconds < 0 { buffer[end] = UInt8(ascii: "-"); end += 1 }
            for (unit, size) in Self.units where rest >= size {
                var value = rest / size
                rest %= size
                let start = end
                repeat {
                    buffer[end] = UInt8(truncatingIfNeeded: 48 + value % 10)
                    end += 1
                    value /= 10
                } while value > 0
                buffer[start..<end].reverse()
                for byte in unit.utf8 { buffer[end] = byte; end += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[..<end]), as: UTF8.self)
        }
    }
}

extension Duration {
    /// Whole milliseconds (truncated), saturating at `Int64`'s bounds (about 292 million years).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflowSum ? (whole < 0 ? .min : .max) : sum
    }

    /// Seconds as a floating point number, for arithmetic with `Date`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
