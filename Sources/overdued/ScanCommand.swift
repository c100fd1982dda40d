import ArgumentParser
import Foundation
import OverduedConfig
import Scheduler
import Store
import TextEscaping

/// `overdued scan`: one evaluation of every rule. Without `--dry-run` the notifications and
/// the dedup state are written in one transaction (the daemon's notifier, or `once`, sends them).
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Evaluate every rule once and list the matches; without --dry-run, enqueue them."
    )

    @OptionGroup var options: ConfigOption

    @Flag(help: "Decide and print, but enqueue, withdraw and record nothing (no state database is created or upgraded).")
    var dryRun = false

    @Flag(help: "Print one JSON array instead of lines.")
    var json = false

    @Option(help: ArgumentHelp("Evaluate as if it were this instant (ISO 8601 with its zone, e.g. 2026-11-24T15:00:00Z).", valueName: "instant"), transform: Instant.parse)
    var now: Instant?

    func run() throws {
        let clock = dryRun ? now?.date ?? Date() : try Instant.toEnqueueAt(now)
        // A dry run writes nothing: the state database's folder need not exist yet.
        let config = try loadConfig(options, stateFolderMayBeMissing: dryRun)
        let instant = config.schedule.evaluationInstant(clock, byClock: now == nil)
        let stores = try OpenStores(config, lookingOnly: dryRun)
        defer { stores.removeScratch() }
        let engine = RulesEngine(config: config)
        let report: ScanReport
        do {
            // The JSON listing shows every match's title, read from its whole row; the text
            // listing needs whole rows only for what it enqueues.
            let detail: ScanDetail = json ? .all : .enqueued
            // The queue is weighed against the tickets only at the real clock: at another
            // instant, tickets overdue now would look not overdue yet, and the reverse.
            let withdrawing = now == nil
            report = dryRun
                ? try engine.scan(tickets: stores.tickets, outbox: stores.outbox, now: instant, detail: detail, withdrawing: withdrawing)
                : try engine.scanAndEnqueue(tickets: stores.tickets, outbox: stores.outbox, now: instant, detail: detail, withdrawing: withdrawing)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        for bad in report.badRows {
            printError("warning: \(bad)")
        }
        for withdrawal in report.withdrawals {
            let queued = withdrawal.notification
            printError("\(dryRun ? "would withdraw" : "withdrew") \(queued.id) (\(PrintableText.escaped(queued.ticketID)), rule \(withdrawal.rule), for \(queued.destination)): "
                + withdrawal.cause.text)
        }
        // The summary is for the reader, on stderr, beside the warnings: in both forms, so a
        // script reading the JSON on stdout still sees the skipped rows counted.
        if json {
            print(ScanOutput.json(report))
        } else {
            print(ScanOutput.text(report), terminator: "")
        }
        let suppressed = report.matches.count - report.matches.filter(\.isEnqueued).count
        let verb = dryRun ? "would enqueue" : "enqueued"
        // Each bad row was warned about above; a row still matched (an empty ticket_id) is
        // counted apart, not as skipped.
        let skipped = report.badRows.filter(\.skipped).count
        let matchedWithWarning = report.badRows.count - skipped
        printError("\(report.matches.count) matches, \(verb) \(report.enqueuedCount) notifications, \(suppressed) suppressed, \(skipped) rows skipped"
            + (matchedWithWarning > 0 ? ", \(matchedWithWarning) rows matched with a warning" : "")
            + (report.withdrawals.isEmpty ? "" : ", \(dryRun ? "would withdraw" : "withdrew") \(report.withdrawals.count) queued notifications"))
    }
}

/// How `overdued scan` prints what a scan found.
enum ScanOutput {
    static func json(_ report: ScanReport) -> String {
        let items: [PayloadJSON] = report.matches.map { match in
            [
                "rule": .string(match.rule),
                "ticket": .integer(match.ticket.ticket),
                "ticket_id": .string(match.ticket.ticketID),
                "title": .string(match.snapshot?.title ?? ""),
                "status": .string(match.ticket.status),
                "assigned_to": .optional(match.ticket.assignedTo),
                "scheduled_date": .string(match.ticket.scheduledDate),
                "due_at": .string(CivilDate.iso8601(match.ticket.dueAt)),
                "overdue_seconds": .integer(Int64(match.overdueSeconds)),
                "action": .string(match.isEnqueued ? "enqueue" : "suppressed"),
                "reason": .string(match.isEnqueued ? "" : match.decision.reason),
                "destinations": .array(match.isEnqueued ? match.destinations.map(PayloadJSON.string) : []),
            ]
        }
        return PayloadJSON.array(items).prettyText()
    }

    /// One line per match, each ending in a newline, written as UTF-8 into one buffer: a scan
    /// can print ten thousand of them.
    static func text(_ report: ScanReport) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(report.matches.count * 140)
        func put(_ text: String) { bytes.append(contentsOf: text.utf8) }
        for match in report.matches {
            put(match.isEnqueued ? "enqueue     " : "suppressed  ")
            put(match.rule)
            put("  ")
            put(PrintableText.escaped(match.ticket.ticketID))
            put(" (#")
            put(String(match.ticket.ticket))
            put(")  scheduled ")
            put(PrintableText.escaped(match.ticket.scheduledDate))
            put("  overdue ")
            put(DurationText.format(.seconds(match.overdueSeconds / 60 * 60)))
            if match.isEnqueued {
                put("  → ")
                for (index, destination) in match.destinations.enumerated() {
                    if index > 0 { put(", ") }
                    put(destination)
                }
            } else {
                put("  (")
                put(match.decision.reason)
                put(")")
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
