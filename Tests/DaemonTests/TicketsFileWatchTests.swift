import Daemon
import Logging
import Store
import Testing

/// What a tick does about the tickets database's file, decided without files: each state said
/// once, and its end once (process tests cover the files themselves).
struct TicketsFileWatchTests {
    let path = "/var/lib/app/tickets.sqlite"

    func look(_ watch: inout TicketsFileWatch, _ change: TicketsFileChange, shm: Bool = true)
        -> (step: TicketsFileWatch.Step, lines: [String]) {
        let (step, lines) = watch.look(change, path: path, shmExists: { shm })
        return (step, lines.map { "\($0.level) \($0.text)" })
    }

    @Test func aFileGoneIsSaidOnceAndItsReturnReadsItAgain() {
        var watch = TicketsFileWatch()
        let gone = look(&watch, .missing)
        #expect(gone.step == .skip(alert: "skipped: tickets database missing"))
        #expect(gone.lines == ["warning \(path) is gone (deleted or moved away): ticks are skipped, not read from the deleted file, until a file is back at that path"])
        let still = look(&watch, .missing)
        #expect(still.step == .skip(alert: "skipped: tickets database missing") && still.lines.isEmpty, "said once")

        let back = look(&watch, .replaced)
        guard case .reopen(let why) = back.step else {
            Issue.record("\(back.step)")
            return
        }
        #expect(why.event == "is back" && why.wasMissing && back.lines.isEmpty)
        #expect(!watch.missing)
        let line = watch.reopened(why, path: path)
        #expect(line.level == .notice && line.text == "\(path) is back; reading it again")
    }

    /// Back as it was (the same file moved away and back): read through the open connection.
    @Test func theSameFileBackIsReadThroughTheOpenConnection() {
        var watch = TicketsFileWatch(missing: true)
        let back = look(&watch, .unchanged)
        #expect(back.step == .read && back.lines == ["notice \(path) is back; reading it again"])
        #expect(look(&watch, .unchanged).lines.isEmpty)
    }

    @Test func aPathThatCannotBeExaminedIsReadAsOpenedUntilItCanAndSaidOnceEachWay() {
        var watch = TicketsFileWatch()
        let first = look(&watch, .unexaminable("Permission denied"))
        #expect(first.step == .read)
        #expect(first.lines.count == 1 && first.lines[0].hasPrefix("warning \(path) cannot be examined (stat: Permission denied): ticks read the file opened before"))
        #expect(look(&watch, .unexaminable("Permission denied")).lines.isEmpty)
        #expect(look(&watch, .unchanged).lines == ["notice \(path) can be examined again"])
        #expect(look(&watch, .unchanged).lines.isEmpty)
    }

    /// Gone, then something at the path that cannot be examined: not the deleted file, so the
    /// ticks stay skipped, and the file still counts as missing.
    @Test func somethingThatCannotBeExaminedWhereAFileWasGoneKeepsTheTicksSkipped() {
        var watch = TicketsFileWatch(missing: true)
        let step = look(&watch, .unexaminable("Input/output error"))
        #expect(step.step == .skip(alert: "skipped: tickets database cannot be examined"))
        #expect(step.lines == ["warning \(path) cannot be examined (stat: Input/output error): ticks stay skipped until it can"])
        #expect(watch.missing && watch.unexaminable)
    }

    @Test func aReplacementThatCannotBeOpenedLeavesThePreviousFileToRead() {
        var watch = TicketsFileWatch()
        guard case .reopen(let why) = look(&watch, .replaced).step else {
            Issue.record("no reopen")
            return
        }
        let kept = watch.reopenFailed(why, path: path, error: "file is not a database", previousStillOpen: true)
        #expect(kept.keepReading && kept.alert == nil)
        #expect(kept.line.text == "\(path) was replaced but the new file cannot be opened (file is not a database); still reading the previous one")
        // Its connection closed: nothing to read.
        let closed = watch.reopenFailed(why, path: path, error: "file is not a database", previousStillOpen: false)
        #expect(!closed.keepReading && closed.alert == "skipped: tickets database unreadable")
        #expect(closed.line.text == "\(path) was replaced by a new file but cannot be opened (file is not a database); tick skipped, retrying next tick")
    }

    /// A file back from missing that does not open counts as missing still: its next look says
    /// it is back again, not that it changed.
    @Test func aFileBackThatCannotBeOpenedStaysMissing() {
        var watch = TicketsFileWatch(missing: true)
        guard case .reopen(let why) = look(&watch, .overwrittenInPlace).step else {
            Issue.record("no reopen")
            return
        }
        let failed = watch.reopenFailed(why, path: path, error: "disk I/O error", previousStillOpen: true)
        #expect(!failed.keepReading && watch.missing)
        #expect(failed.line.text == "\(path) is back but cannot be opened (disk I/O error); tick skipped, retrying next tick")
    }

    /// An app that opens and closes its WAL database for each change makes the reopen routine:
    /// said at info, and which of the two it was.
    @Test func anAppOpeningItsClosedWALDatabaseIsSaidAtInfo() {
        var watch = TicketsFileWatch()
        guard case .reopen(let opened) = look(&watch, .walReopened, shm: true).step,
              case .reopen(let changed) = look(&watch, .walReopened, shm: false).step else {
            Issue.record("no reopen")
            return
        }
        #expect(opened.event == "was opened by the app since it was read while the app had it closed (WAL)")
        #expect(changed.event == "changed since it was read while the app had it closed (WAL)")
        let line = watch.reopened(opened, path: path)
        #expect(line.level == .info && line.text.hasSuffix("; reading it afresh"))
        guard case .reopen(let replaced) = look(&watch, .replaced).step else {
            Issue.record("no reopen")
            return
        }
        #expect(watch.reopened(replaced, path: path) == TicketsFileWatch.Line(level: .notice, text: "\(path) was replaced by a new file; reading the new one"))
    }
}
