import OverduedConfig
import Testing

struct DurationTextTests {
    @Test(arguments: [
        ("200ms", Int64(200)), ("0ms", 0), ("0s", 0), ("30s", 30_000), ("5m", 300_000), ("24h", 86_400_000),
        ("7d", 604_800_000), ("1h30m", 5_400_000), ("1d2h3m4s5ms", 93_784_005), ("1.5s", 1_500), ("0.5h", 1_800_000),
        (" 10s ", 10_000), ("90m", 5_400_000),
    ])
    func parsesDurations(text: String, milliseconds: Int64) throws {
        #expect(try DurationText.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: [
        ("200ms", "200ms"), ("30s", "30s"), ("5m", "5m"), ("24h", "1d"), ("7d", "7d"), ("90m", "1h30m"),
        ("1d2h3m4s5ms", "1d2h3m4s5ms"), ("1500ms", "1s500ms"), ("0ms", "0s"), ("3600s", "1h"),
    ])
    func formatIsTheShortestTextThatParsesBack(text: String, formatted: String) throws {
        let duration = try DurationText.parse(text)
        #expect(DurationText.format(duration) == formatted)
        #expect(try DurationText.parse(formatted) == duration)
    }

    /// The text is written byte by byte; it must be what joining the parts gives, for any sign
    /// and size.
    @Test func formatWritesEachPartOfAnyDuration() {
        func joined(_ milliseconds: Int64) -> String {
            var rest = milliseconds.magnitude
            var text = milliseconds < 0 ? "-" : ""
            for (unit, size) in [("d", UInt64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] where rest >= size {
                text += "\(rest / size)\(unit)"
                rest %= size
            }
            return text.isEmpty ? "0s" : text
        }
        var values: [Int64] = [0, 1, -1, 9, 10, 99_999, -90_061_001, 864_000_000_000, Int64.max, Int64.min + 1, Int64.min]
        var value: Int64 = 1
        while value < Int64.max / 7 { values += [value, -value, value * 3 + 1]; value *= 7 }
        for milliseconds in values {
            #expect(DurationText.format(.milliseconds(milliseconds)) == joined(milliseconds), "\(milliseconds)")
        }
        #expect(DurationText.format(.milliseconds(Int64.max)) == "106751991167d7h12m55s807ms")
        #expect(DurationText.format(.milliseconds(Int64.min)) == "-106751991167d7h12m55s808ms")
    }

    @Test(arguments: [Int64(0), 1, 999, 1_000, 59_999, 60_000, 3_599_999, 86_400_000, 90_061_001, 31_536_000_000])
    func formatThenParseRoundTrips(milliseconds: Int64) throws {
        let duration = Duration.milliseconds(milliseconds)
        #expect(try DurationText.parse(DurationText.format(duration)) == duration)
        #expect(duration.milliseconds == milliseconds)
    }

    @Test(arguments: [
        ("", "is empty"), ("   ", "is empty"), ("5", "without a unit"), ("10", #"(e.g. "10s")"#),
        ("5 minutes", "is not a duration"), ("-1s", "is not a duration"), ("5x", #"unknown unit "x""#),
        ("5min", #"unknown unit "min""#), ("1h30", "without a unit"), ("abc", "is not a duration"),
        ("1.2.3s", "is not a duration"), ("s", "is not a duration"), ("36500d", "more than 100 years"),
        ("36499d36499d36499d", "more than 100 years"), ("20000d20000d", "more than 100 years"),
    ])
    func refusesWhatIsNotADuration(text: String, phrase: String) {
        #expect {
            _ = try DurationText.parse(text)
        } throws: { error in
            (error as? DurationText.ParseError)?.message.contains(phrase) == true
        }
    }

    @Test func durationSecondsAndMilliseconds() {
        #expect(Duration.milliseconds(1_500).seconds == 1.5)
        #expect(Duration.seconds(86_400).milliseconds == 86_400_000)
        // Saturates instead of trapping, beyond what Int64 milliseconds hold.
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(Int64.min).milliseconds == .min)
        #expect(DurationText.format(.seconds(Int64.max)).hasSuffix("807ms"))
    }
}
