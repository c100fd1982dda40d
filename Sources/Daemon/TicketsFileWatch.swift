public import Logging
public import Store

/// What a tick does about the tickets database's file, from how it changed since the last look
/// (`TicketsFileChange`) and what the daemon has already said about it: read through the open
/// connection, open it afresh, or skip the tick. Each state is said once (a file gone, one that
/// cannot be examined), and its end once. Pure: the daemon looks at the file, applies the step,
/// opens what it says to open and logs the lines, so the decisions are tested without files.
public struct TicketsFileWatch: Sendable, Equatable {
    /// No file was at the path at the last look (said).
    public var missing = false
    /// The path could not be examined at the last look (`stat` failed otherwise; said).
    public var unexaminable = false

    public init(missing: Bool = false) {
        self.missing = missing
    }

    public enum Step: Sendable, Equatable {
        /// Read through the connection open now.
        case read
        /// Open the file afresh, then say how that went (`reopened`, `reopenFailed`).
        case reopen(Reopen)
        /// Skip the tick; the status line says `alert`.
        case skip(alert: String)
    }

    /// Why the file is opened afresh.
    public struct Reopen: Sendable, Equatable {
        /// What happened to it: "was replaced by a new file", "is back", ….
        public var event: String
        public var change: TicketsFileChange
        /// It was gone at the last look.
        public var wasMissing: Bool
    }

    public struct Line: Sendable, Equatable {
        public var level: Logger.Level
        public var text: String

        public init(level: Logger.Level, text: String) {
            self.level = level
            self.text = text
        }
    }

    /// One look: `change` is what `TicketsDatabase.fileChange()` saw (a schema change already
    /// folded in); `shmExists` whether the database's `-shm` is there (it tells an app that
    /// opened a closed WAL database from one that only changed it).
    public mutating func look(_ change: TicketsFileChange, path: String, shmExists: () -> Bool) -> (step: Step, lines: [Line]) {
        let wasMissing = missing
        let wasUnexaminable = unexaminable
        missing = change == .missing
        if case .unexaminable = change { unexaminable = true } else { unexaminable = false }
        var lines: [Line] = []
        if wasUnexaminable, !unexaminable { lines.append(Line(level: .notice, text: "\(path) can be examined again")) }
        let event: String
        switch change {
        case .unexaminable(let reason) where wasMissing:
            // Something is at the path again, and it cannot be told what: not the deleted file.
            missing = true
            if !wasUnexaminable {
                lines.append(Line(level: .warning, text: "\(path) cannot be examined (stat: \(reason)): ticks stay skipped until it can"))
            }
            return (.skip(alert: "skipped: tickets database cannot be examined"), lines)
        case .unexaminable(let reason):
            if !wasUnexaminable {
                lines.append(Line(level: .warning, text: "\(path) cannot be examined (stat: \(reason)): ticks read the file opened before, which "
                    + "may no longer be the one at that path, until it can be examined again"))
            }
            return (.read, lines)
        case .unchanged:
            if wasMissing { lines.append(Line(level: .notice, text: "\(path) is back; reading it again")) }
            return (.read, lines)
        case .missing:
            if !wasMissing {
                lines.append(Line(level: .warning, text: "\(path) is gone (deleted or moved away): ticks are skipped, not read from the deleted "
                    + "file, until a file is back at that path"))
            }
            return (.skip(alert: "skipped: tickets database missing"), lines)
        case _ where wasMissing:
            event = "is back"
        case .replaced:
            event = "was replaced by a new file"
        case .overwrittenInPlace:
            event = "was overwritten in place (its size or modification time changed without a commit SQLite saw)"
        case .walReopened:
            event = shmExists()
                ? "was opened by the app since it was read while the app had it closed (WAL)"
                : "changed since it was read while the app had it closed (WAL)"
        case .schemaChanged:
            event = "had its schema changed by the app (a column, table or index added, dropped or renamed, or a VACUUM)"
        case .switchedToWAL:
            event = "was switched to WAL mode by the app since it was read with a rollback journal, and closed"
        case .walIndexReplaced:
            event = "has a new -shm file beside it (the one this connection read was deleted, with the -wal, by hand?), so the connection no "
                + "longer saw the app's commits"
        case .unreadable:
            event = "could not be read through the open connection"
        }
        return (.reopen(Reopen(event: event, change: change, wasMissing: wasMissing)), lines)
    }

    /// The reopen succeeded. An app that opens and closes the database for each change makes
    /// that routine: one line a tick at info, not among the notices an operator filters for.
    public func reopened(_ reopen: Reopen, path: String) -> Line {
        let reading = reopen.wasMissing ? "reading it again" : reopen.change == .replaced ? "reading the new one" : "reading it afresh"
        return Line(level: reopen.change == .walReopened && !reopen.wasMissing ? .info : .notice, text: "\(path) \(reopen.event); \(reading)")
    }

    /// The reopen failed with `error`. A replaced file whose new one cannot be opened leaves the
    /// previous one to read (`keepReading`, when its connection is still open); otherwise the
    /// tick is skipped (`alert`), and a file back from missing counts as missing still.
    public mutating func reopenFailed(_ reopen: Reopen, path: String, error: String,
                                      previousStillOpen: Bool) -> (keepReading: Bool, line: Line, alert: String?) {
        if reopen.change == .replaced, !reopen.wasMissing, previousStillOpen {
            return (true, Line(level: .warning, text: "\(path) was replaced but the new file cannot be opened (\(error)); still reading the previous one"),
                    nil)
        }
        if reopen.wasMissing { missing = true }
        return (false, Line(level: .warning, text: "\(path) \(reopen.event) but cannot be opened (\(error)); tick skipped, retrying next tick"),
                "skipped: tickets database unreadable")
    }
}
