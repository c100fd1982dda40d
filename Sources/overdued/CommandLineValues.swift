import ArgumentParser
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Systemd
import TimeZoneRules

/// `--limit` of `history` and `queue`: 0 or less would list nothing, which reads as "none".
func validateLimit(_ limit: Int) throws {
    guard limit >= 1 else { throw ValidationError("--limit must be at least 1, found \(limit)") }
}

func printError(_ text: String) {
    // Not FileHandle's write, which stops the process when stderr cannot be written.
    _ = StandardStreams.write(text + "\n", to: STDERR_FILENO)
}

/// `--now`, `--since`: read by `InstantText` (Scheduler). Options read it with
/// `transform: Instant.parse`, so that a refused value says why.
struct Instant {
    let date: Date

    static func parse(_ argument: String) throws(InstantText.Invalid) -> Instant {
        Instant(date: try InstantText.parse(argument))
    }
}
