import Foundation
import Scheduler
import Testing

/// `--now` and `--since` as an operator types them: read, or refused saying why.
struct InstantTextTests {
    private static let example = "e.g. 2026-11-24T15:00:00Z or 2026-11-24T10:00:00-05:00"

    /// ISO 8601 with a zone, fractions up to nine digits, and the other spellings of the
    /// tickets' own dates with a zone of their own (read as those are).
    @Test(arguments: [
        ("2026-11-24T15:00:00Z", 1_795_532_400.0),
        ("2026-11-24T10:00:00-05:00", 1_795_532_400),
        ("2026-11-24T10:00:00.5-05:00", 1_795_532_400.5),
        ("2026-11-24T15:00:00.123456789Z", 1_795_532_400.123),   // to the millisecond (Foundation's reader)
        ("2026-11-24 15:00:00Z", 1_795_532_400),
        ("2026-11-24t15:00:00z", 1_795_532_400),
        ("2026-11-24T15:00Z", 1_795_532_400),
        ("2026-11-24T10:00:00-0500", 1_795_532_400),
        ("2026-11-24T15:00:00.250-18:00", 1_795_597_200.25),
        ("2028-02-29T23:59:59+14:00", 1_835_431_199),
        ("1583-01-01T00:00:00Z", -12_212_553_600),
    ] as [(String, Double)])
    func read(text: String, seconds: Double) throws {
        let date = try InstantText.parse(text)
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_001, "\(text): \(date.timeIntervalSince1970)")
    }

    /// What is refused, and the words that say why.
    @Test(arguments: [
        // Without a zone: which one is a guess.
        ("2026-11-24T15:00:00", "it has no time zone; add Z (UTC) or an offset ±HH:MM, \(example)"),
        ("2026-11-24 15:00:00", "it has no time zone; add Z (UTC) or an offset ±HH:MM, \(example)"),
        // Foundation reads an instant before 1582-10-15 in the Julian calendar: 10 days off.
        ("1582-10-10T00:00:00Z", "an instant before 1583 is not supported (the Julian calendar was in use then), \(example)"),
        // Impossible fields, which Foundation's reader rolled over (11-31 read as 12-01).
        ("2026-11-31T10:00:00Z", "2026-11 has no day 31, \(example)"),
        ("2026-13-01T10:00:00Z", "month 13 does not exist, \(example)"),
        ("2026-11-24T24:00:00Z", "24:00:00 is not a time of day, \(example)"),
        ("2026-11-24T15:00:00+25:00", "the offset +25:00 is not one (at most ±18:00), \(example)"),
        ("2026-11-24T15:00:00+99:99", "the offset +99:99 is not one (at most ±18:00), \(example)"),
        ("2027-02-29T00:00:00Z", "2027-02 has no day 29, \(example)"),
        ("2100-02-29T00:00:00Z", "2100-02 has no day 29, \(example)"),
        // Foundation's reader divided by zero on this fraction (SIGFPE, fuzzing) and read
        // `.1e9` as 16 days; digits of other scripts skipped the range checks.
        ("6-1-2T5:0:0.15276666666666667152766666666666671", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
        ("2026-11-24T15:00:00.1e9Z", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
        ("\u{662}\u{660}\u{662}\u{666}-11-31T15:00:00Z", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
        ("\u{FF12}\u{FF10}\u{FF12}\u{FF16}-11-24T15:00:00Z", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
        ("tomorrow", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
        ("", "expected an ISO 8601 instant with a time zone (Z or ±HH:MM), \(example)"),
    ] as [(String, String)])
    func refused(text: String, reason: String) {
        do {
            let date = try InstantText.parse(text)
            Issue.record("\(text.debugDescription) read as \(date)")
        } catch {
            #expect(error.description == reason, "\(text.debugDescription)")
        }
    }
}
