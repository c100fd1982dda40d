import ArgumentParser
import Foundation
import OverduedConfig
import Scheduler
import Store

/// `overdued import-legacy`: seeds the dedup state from the app's `webhook_notifications`.
struct ImportLegacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-legacy",
        abstract: "Seed the dedup state from the app's webhook_notifications table, so switching over re-notifies nothing."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: ArgumentHelp("The app's database holding webhook_notifications (opened read-only).", valueName: "tickets-db"))
    var from: String

    @Option(help: "Seed only this rule (default: every rule of the config).")
    var rule: String?

    func run() throws {
        let config = try loadConfig(options)
        let rules = rule.map { [$0] } ?? config.rules.map(\.name)
        if let rule, !config.rules.contains(where: { $0.name == rule }) {
            printError("no rule named \(rule) in \(config.sourcePath)")
            throw ExitCode(1)
        }
        do {
            let source = try TicketsDatabase(path: from, busyTimeout: config.store.busyTimeout)
            guard try source.tableExists("webhook_notifications") else {
                printError("\(from) has no webhook_notifications table: nothing to import")
                throw ExitCode(1)
            }
            let importedAt = Date()
            var log = LegacyImport.Log(now: importedAt, zone: config.store.timeZone)
            let (noTicket, otherTypes) = try LegacyImport.read(source, into: &log)
            let keeping = Set(config.rules.filter(\.repeatPolicy.oncePerScheduledDate).map(\.name))
            let result = log.result(rules: rules, keepingDatesOf: keeping)
            for problem in result.skipped { printError("warning: \(from): webhook_notifications: \(problem); skipped") }
            if log.skippedCount > result.skipped.count {
                printError("warning: \(from): webhook_notifications: \(log.skippedCount - result.skipped.count) more row(s) with a sent_at that is not a date; skipped")
            }
            for problem in log.late {
                printError("warning: \(from): webhook_notifications: \(problem) (the app's clock ahead, or a date without a time); counted as sent now")
            }
            if log.lateCount > log.late.count {
                printError("warning: \(from): webhook_notifications: \(log.lateCount - log.late.count) more row(s) with a sent_at later than now; counted as sent now")
            }
            // Held for the whole import: a tick between two of its batches would notify what
            // it is about to record, and no daemon or `once` starts meanwhile.
            let lock = try lockedForImport(config)
            defer { withExtendedLifetime(lock) {} }
            // The lock's holder, as the deliverers are: it upgrades an earlier release's file.
            let state = try StateDatabase(path: config.store.stateDatabase, busyTimeout: config.store.busyTimeout)
            let written = try Outbox(database: state).importDedup(result.records, notified: result.notified, countedSentAt: importedAt,
                                                                  keepingDatesOf: keeping)
            var summary = "read \(log.rowsRead) legacy notification(s)"
            if log.skippedCount > 0 { summary += " (\(log.skippedCount) skipped)" }
            if noTicket > 0 { summary += "; \(noTicket) more name no ticket of \(from), by its id or its human id (deleted since: nothing to seed)" }
            if log.datesRespelled > 0 {
                summary += "; \(log.datesRespelled) scheduled_date_notified written in another form than the ticket's date for the same instant, taken as it"
            }
            if otherTypes > 0 { summary += "; \(otherTypes) of another notification_type than overdue_scheduled left out" }
            if result.refused > 0 {
                summary += "; \(result.refused) the receiver refused (HTTP status outside 2xx) are not counted as notified"
            }
            summary += "; seeded \(written) dedup record(s) for rule(s) \(rules.joined(separator: ", "))"
            if result.records.count > written {
                summary += "; \(result.records.count - written) left as they were (the dedup state is as new or newer: imported before, or notified by overdued since)"
            }
            print(summary)
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// The delivery lock, taken for the import; a deliverer holding it is told to stop first.
    private func lockedForImport(_ config: Config) throws -> DeliveryLock {
        do {
            return try DeliveryLock(stateDatabase: config.store.stateDatabase)
        } catch {
            // Held by a deliverer (not only asked about by other commands, which passes).
            guard error.kind == .inUse, DeliveryLock.isHeld(stateDatabase: config.store.stateDatabase) else { throw error }
            printError("\(config.store.stateDatabase): an overdued process\(DeliveryLock.holder(in: error)) delivers from it now: stop it first (systemctl stop overdued), then "
                + "import, then start it again. A tick between the import's batches would notify what the import is about to record")
            throw ExitCode(1)
        }
    }
}
