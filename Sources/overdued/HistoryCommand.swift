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

    @Option(help: ArgumentHelp("Only those that ended at or after this instant (ISO 8601 with a zone), or this long ago (a duration such as 7d, 12h).",
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
        let stores = try OpenState(config, lookingOnly: true)
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

/// How `history` and `queue` show notifications: destinations by name and host only (a URL's
/// path or query may hold a token).
enum NotificationTable {
    /// The requests marked as leaving (`queue`): under way while a deliverer holds the lock;
    /// otherwise cut off by the end of their process, counted as failed by the next one.
    struct UnderWay {
        var attempts: [String: StartedAttempt]
        var delivering: Bool

        func text(_ started: StartedAttempt) -> String {
            delivering
                ? "under way: attempt \(started.attempt), sent at \(iso(started.startedAt))"
                : "attempt \(started.attempt), sent at \(iso(started.startedAt)), did not end (overdued stopped during it): the next run or once counts it as failed"
        }

        func json(_ started: StartedAttempt?) -> PayloadJSON {
            guard let started else { return .null }
            return ["attempt": .integer(Int64(started.attempt)), "started_at": .string(iso(started.startedAt)), "process_running": .bool(delivering)]
        }
    }

    /// `pauses` (`queue`): each queued notification's JSON says whether its destination's
    /// receiver asked to wait (`paused_by_receiver`); nil (`history`) leaves the key out.
    /// `underWay` (`queue`): and whether a request of it is under way (`attempt_under_way`).
    static func print(_ items: [OverdueNotification], config: Config, outbox: Outbox, json: Bool, withAttempts: Bool,
                      pauses: [String: ReceiverPauseView]? = nil, underWay: UnderWay? = nil) throws {
        if json {
            var objects: [PayloadJSON] = []
            objects.reserveCapacity(items.count)
            for item in items {
                var members = jsonMembers(item, config: config)
                if let pauses {
                    let queued = item.status == .pending || item.status == .retrying
                    members.append(.init(key: "paused_by_receiver", value: (queued ? pauses[item.destination]?.json : nil) ?? .null))
                }
                if let underWay {
                    let queued = item.status == .pending || item.status == .retrying
                    members.append(.init(key: "attempt_under_way", value: underWay.json(queued ? underWay.attempts[item.id] : nil)))
                }
                if withAttempts {
                    let log = try outbox.attempts(notificationID: item.id).map { attempt -> PayloadJSON in
                        ["attempt": .integer(Int64(attempt.attempt)), "started_at": .string(iso(attempt.startedAt)),
                         "duration_ms": .integer(Int64(attempt.durationMilliseconds)),
                         "http_status": .optional(attempt.httpStatus.map(Int64.init)), "error": .optional(attempt.error)]
                    }
                    members.append(.init(key: "attempt_log", value: .array(log)))
                }
                objects.append(.object(members))
            }
            Swift.print(PayloadJSON.array(objects).prettyText())
            return
        }
        if items.isEmpty {
            Swift.print("(none)")
            return
        }
        let now = Date()
        for item in items {
            let when = item.deliveredAt ?? item.deadAt ?? item.withdrawnAt ?? item.createdAt
            let status = item.lastHTTPStatus.map { " HTTP \($0)" } ?? ""
            var error = item.status == .delivered ? "" : item.lastError.map { "  \($0)" } ?? ""
            if let held = onHold(item, config) {
                error = "  on hold: \(held)" + (item.lastError.map { " (last error: \($0))" } ?? "")
            } else if item.status == .pending || item.status == .retrying, let underWay, let started = underWay.attempts[item.id] {
                error = "  \(underWay.text(started))" + (item.lastError.map { " (last error: \($0))" } ?? "")
            } else if item.status == .pending || item.status == .retrying {
                // When it goes next, from the queue as it is now: the last error's "attempt 2
                // in 1h" was true when it was written, not after the time passed, a requeue or
                // `queue resume`.
                let next = pauses?[item.destination].map { "after its receiver's pause, at \(iso(max($0.until, item.nextAttemptAt)))" }
                    ?? nextAttempt(item.nextAttemptAt, now: now)
                error = "  next attempt \(next)" + (item.lastError.map { " (last error: \($0))" } ?? "")
            }
            Swift.print("\(iso(when))  \(item.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(PrintableText.escaped(item.ticketID)) (#\(item.ticket))  rule \(item.rule)  → \(host(item.destination, config))  attempts \(item.attempts)\(status)  \(item.id)\(error)")
            if withAttempts {
                for attempt in try outbox.attempts(notificationID: item.id) {
                    Swift.print("    attempt \(attempt.attempt) at \(iso(attempt.startedAt)): \(attempt.httpStatus.map { "HTTP \($0)" } ?? "no response") in \(attempt.durationMilliseconds) ms\(attempt.error.map { " (\($0))" } ?? "")")
                }
            }
        }
    }

    /// "due now", or "at 2026-11-24T15:20:00.000Z (in 12m)".
    static func nextAttempt(_ at: Date, now: Date) -> String {
        guard at > now else { return "due now" }
        return "at \(iso(at)) (in \(DurationText.format(.milliseconds(Int64((at.timeIntervalSince(now) * 1000).rounded(.up))))))"
    }

    static func jsonMembers(_ item: OverdueNotification, config: Config) -> [PayloadJSON.Member] {
        let members: KeyValuePairs<String, PayloadJSON> = [
            "id": .string(item.id), "rule": .string(item.rule), "ticket": .integer(item.ticket), "ticket_id": .string(item.ticketID),
            "destination": .string(item.destination), "destination_host": .string(host(item.destination, config)),
            "status": .string(item.status.rawValue), "attempts": .integer(Int64(item.attempts)),
            "created_at": .string(iso(item.createdAt)), "next_attempt_at": .string(iso(item.nextAttemptAt)),
            "delivered_at": .optional(item.deliveredAt.map(iso)),
            "dead_at": .optional(item.deadAt.map(iso)),
            "withdrawn_at": .optional(item.withdrawnAt.map(iso)),
            "requeued_at": .optional(item.requeuedAt.map(iso)),
            "on_hold": .optional(onHold(item, config)),
            "last_http_status": .optional(item.lastHTTPStatus.map(Int64.init)),
            "last_error": .optional(item.lastError),
        ]
        return members.map { PayloadJSON.Member(key: $0.key, value: $0.value) }
    }

    /// Why a queued notification is not tried, or nil: its destination is no longer in the
    /// config. The daemon keeps it, untried, until the destination is back; its last retry
    /// time means nothing meanwhile.
    static func onHold(_ item: OverdueNotification, _ config: Config) -> String? {
        guard item.status == .pending || item.status == .retrying, config.destination(named: item.destination) == nil else { return nil }
        return "destination \(item.destination) is not in the config; not delivered until it is back"
    }

    static func host(_ destination: String, _ config: Config) -> String {
        config.destination(named: destination).map { "\(destination) (\($0.redactedURL))" } ?? "\(destination) (no longer configured)"
    }

    /// UTC with milliseconds, rounded as the state database stores them (Foundation's format
    /// style truncates: a stored .123 would show as .122).
    static func iso(_ date: Date) -> String {
        CivilDate.iso8601(date)
    }
}
