import ArgumentParser
import Foundation
import OverduedConfig
import Scheduler
import Store
import TextEscaping

/// `overdued history`: notifications sent (and given up), newest first.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List delivered, dead and withdrawn notifications, newest first."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "Only this ticket: its tickets.id, or its human id (as the tickets database knows it now, or as it was when notified); a number matches both.")
    var ticket: String?

    // `.unconditional`: `--limit -3` is a value to refuse with its reason, not a missing one.
    @Option(parsing: .unconditional, help: "At most this many notifications.")
    var limit = 100

    @Option(help: "Only this rule's notifications (a rule no longer in the config too).")
    var rule: String?

    @Option(help: "Only those for this destination (one no longer in the config too).")
    var destination: String?

    @Option(help: "Only those that ended so: delivered, dead or withdrawn.")
    var status: EndedStatus?

    // `.unconditional`: `--since -1d` is a value the check below explains, not a missing one.
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Only those that ended at or after this instant (ISO 8601 with a zone), or this long ago (a duration such as 7d, 12h).",
                               valueName: "instant-or-duration"))
    var since: String?

    @Flag(help: "Print JSON.")
    var json = false

    enum EndedStatus: String, ExpressibleByArgument, CaseIterable {
        case delivered, dead, withdrawn

        var status: NotificationStatus {
            switch self {
            case .delivered: .delivered
            case .dead: .dead
            case .withdrawn: .withdrawn
            }
        }
    }

    func validate() throws {
        try validateLimit(limit)
        if let since { _ = try Self.instant(since, now: Date()) }
    }

    /// `--since`: an instant, or a duration before `now`.
    static func instant(_ text: String, now: Date) throws -> Date {
        // A date's dashes or a time's colons say an instant was meant: its reason is the one
        // to give ("it has no time zone"), as a number first says a duration ("more than 100 years").
        if text.hasPrefix("-"), (try? DurationText.parse(String(text.dropFirst()))) != nil {
            throw ValidationError("--since \"\(text)\": a duration counts back from now already: write \(text.dropFirst()), without the minus")
        }
        if text.contains("-") || text.contains(":") {
            do {
                return try InstantText.parse(text)
            } catch {
                throw ValidationError("--since \"\(text)\": \(error.description)")
            }
        }
        do {
            let duration = try DurationText.parse(text)
            return now.addingTimeInterval(-duration.seconds)
        } catch {
            let reason = text.first?.isNumber == true
                ? error.message : "expected a duration (7d, 12h, 30m) or an ISO 8601 instant with a time zone, e.g. 2026-11-24T15:00:00Z"
            throw ValidationError("--since \"\(text)\": \(reason)")
        }
    }

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false, stateFolderMayBeMissing: true)
        if try noStateDatabaseYet(config, json: json) { return }
        let stores = try OpenStateDatabase(config, lookingOnly: true)
        do {
            let filter = HistoryFilter(statuses: status.map { [$0.status] } ?? [.delivered, .dead, .withdrawn],
                                       ticket: ticket.map { Self.history(of: $0, config: config) }, rule: rule,
                                       destination: destination, endedSince: try since.map { try Self.instant($0, now: Date()) })
            let items = try stores.outbox.notifications(matching: filter, limit: limit)
            // A removed rule or destination keeps its history; a name never configured is
            // likelier a typo, which "(none)" alone would hide.
            if items.isEmpty, let rule, !config.rules.contains(where: { $0.name == rule }) {
                printError("note: no rule named \(rule) in the config; defined: \(config.rules.map(\.name).joined(separator: ", "))")
            }
            if items.isEmpty, let destination, config.destination(named: destination) == nil {
                printError("note: no destination named \(destination) in the config; defined: \(config.destinations.map(\.name).joined(separator: ", "))")
            }
            try NotificationTable.print(items, config: config, outbox: stores.outbox, json: json, withAttempts: ticket != nil)
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// What `--ticket` names: a number is a tickets.id; anything else a human id, matched
    /// against the id each notification was made under and, when the tickets database is
    /// there and knows it, resolved to the ticket's tickets.id (which also finds what was
    /// sent under its earlier human ids). The tickets database is consulted, never required:
    /// `history` works while the file is missing.
    static func history(of ticket: String, config: Config) -> TicketHistory {
        // A number is a tickets.id, and also a human id written so (an app may number its
        // tickets "42"): both are listed.
        if let key = Int64(ticket) { return TicketHistory(ticket: key, ticketID: ticket) }
        let path = config.store.ticketsDatabase
        guard FileManager.default.fileExists(atPath: path) else { return TicketHistory(ticket: nil, ticketID: ticket) }
        do {
            let tickets = try TicketsDatabase(path: path, busyTimeout: config.store.busyTimeout)
            return TicketHistory(ticket: try tickets.internalID(ticketID: ticket), ticketID: ticket)
        } catch {
            printError("warning: \(error.description); showing the notifications made under the ticket id \(ticket) only")
            return TicketHistory(ticket: nil, ticketID: ticket)
        }
    }
}
