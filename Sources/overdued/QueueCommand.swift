import ArgumentParser
import Foundation
import Notifier
import OverduedConfig
import Scheduler
import Store
import TextEscaping

/// `overdued queue`: what is waiting (pending, retrying) and what was given up (dead);
/// `overdued queue retry` puts dead notifications back.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show pending, retrying and dead notifications; requeue dead ones.",
        discussion: "`overdued queue [--config <path>] [--limit <n>] [--json]` is `overdued queue list`: see `overdued queue list --help` for its options.",
        subcommands: [QueueListCommand.self, QueueRetryCommand.self, QueueResumeCommand.self],
        defaultSubcommand: QueueListCommand.self
    )
}

struct QueueListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show pending, retrying and dead notifications.")

    @OptionGroup var options: ConfigOption

    @Flag(help: "Print JSON.")
    var json = false

    // `.unconditional`: `--limit -3` is a value to refuse with its reason, not a missing one.
    @Option(parsing: .unconditional, help: "At most this many notifications.")
    var limit = 200

    func validate() throws {
        try validateLimit(limit)
    }

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false, stateFolderMayBeMissing: true)
        if try noStateDatabaseYet(config, json: json) { return }
        let stores = try OpenState(config, lookingOnly: true)
        do {
            let listing = try stores.outbox.queueListing(limit: limit)
            let counts = listing.counts
            let pauses = ReceiverPauseView.inForce(listing.receiverPauses, config: config, now: Date())
            let underWay = NotificationTable.UnderWay(attempts: listing.startedAttempts,
                                                      delivering: DeliveryLock.isHeld(stateDatabase: config.store.stateDatabase))
            if !json {
                print("pending \(counts.pending), retrying \(counts.retrying), dead \(counts.dead), delivered \(counts.delivered), withdrawn \(counts.withdrawn)")
                for pause in pauses.values.sorted(by: { $0.destination < $1.destination }) { print(pause.line(config)) }
            }
            try NotificationTable.print(listing.notifications, config: config, outbox: stores.outbox, json: json, withAttempts: false,
                                        pauses: pauses, underWay: underWay)
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

/// A destination's receiver asked to wait (`429`/`503` with `Retry-After`): its due
/// notifications are not sent before `until`, which the queue says (the journal alone did).
struct ReceiverPauseView {
    var destination: String
    var until: Date
    var httpStatus: Int
    var setAt: Date
    /// Where the destination pointed then, when this command cannot tell where it points
    /// now (`url_file`, a secret it does not read).
    var unconfirmedReceiver: String?

    /// The recorded pauses the daemon honours now: of destinations in the config, not
    /// ended, asked by the receiver the destination still points to.
    static func inForce(_ recorded: [ReceiverPause], config: Config, now: Date) -> [String: ReceiverPauseView] {
        var views: [String: ReceiverPauseView] = [:]
        for pause in recorded {
            guard let spec = config.destination(named: pause.destination) else { continue }
            let unread = spec.url.value.isEmpty
            guard case .holds(let until, _) = RetryPolicy.recordedPause(pause, receiver: unread ? pause.receiver : spec.redactedURL, now: now)
            else { continue }
            views[pause.destination] = ReceiverPauseView(destination: pause.destination, until: until, httpStatus: pause.httpStatus,
                                                         setAt: pause.setAt, unconfirmedReceiver: unread ? pause.receiver : nil)
        }
        return views
    }

    /// `hook (https://hooks.example.com): paused by the receiver until … (HTTP 503 with Retry-After)`,
    /// or by overdued, when the destination's answers crashed it.
    func line(_ config: Config) -> String {
        let unconfirmed = unconfirmedReceiver.map { "; if \(destination) still points to \($0)" } ?? ""
        let pause = ReceiverPause(destination: destination, until: until, httpStatus: httpStatus, setAt: setAt, receiver: "")
        let by = httpStatus == ReceiverPause.crashingAnswers ? "overdued" : "the receiver"
        return "\(NotificationTable.host(destination, config)): paused by \(by) until \(NotificationTable.iso(until)) "
            + "(\(pause.cause) at \(NotificationTable.iso(setAt))\(unconfirmed)); its notifications wait until then"
    }

    var json: PayloadJSON {
        ["until": .string(NotificationTable.iso(until)), "http_status": .integer(Int64(httpStatus)),
         "cause": .string(httpStatus == ReceiverPause.crashingAnswers ? "crashing_answers" : "retry_after"),
         "since": .string(NotificationTable.iso(setAt)), "receiver_unconfirmed": .optional(unconfirmedReceiver)]
    }
}

/// `overdued queue resume NAME`: ends a receiver's `Retry-After` pause before its time (the
/// receiver is known to be back, or asked for far too long). A restart does not end one.
struct QueueResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End the wait a destination's receiver asked for (429/503 with Retry-After), or the hour's wait after its answers crashed overdued, now.")

    @OptionGroup var options: ConfigOption

    @Argument(help: "The destination's name.")
    var destination: String

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false, stateFolderMayBeMissing: true)
        // A destination taken out of the config may still have its pause recorded: that one
        // can be ended; any other unknown name is a typo, and says so.
        let notPaused = config.destination(named: destination) == nil
            ? "no destination named \(destination); defined: \(config.destinations.map(\.name).joined(separator: ", "))"
            : "\(destination) is not paused by its receiver (see `overdued queue`)"
        guard try stateDatabaseExists(config) else {
            printError(notPaused)
            throw ExitCode(1)
        }
        let stores = try OpenState(config)
        do {
            guard let pause = try stores.outbox.receiverPause(destination: destination), pause.until > Date() else {
                printError(notPaused)
                throw ExitCode(1)
            }
            let due = try stores.outbox.resumeReceiver(destination: destination, now: Date())
            let crashed = pause.httpStatus == ReceiverPause.crashingAnswers
            let wait = crashed ? "the wait after its answers crashed overdued (until \(NotificationTable.iso(pause.until)))"
                : "the wait its receiver asked for (until \(NotificationTable.iso(pause.until)), HTTP \(pause.httpStatus))"
            let refused = crashed ? "" : "; \(due) notification(s) it refused are due now"
            print("\(destination): \(wait) is over\(refused); a running daemon sends to it again within "
                + DurationText.format(Notifier.receiverPauseResumeDelay))
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

struct QueueRetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Requeue a dead notification (ID), or all of them (--dead), with a fresh retry budget.",
        discussion: """
            A dead notification is left dead when its rule no longer selects its ticket (closed, \
            rescheduled, reassigned or deleted since), when its rule or destination is no longer in \
            the config, or when a newer notification for the same ticket was queued or delivered \
            since; --force requeues it anyway.
            """)

    @OptionGroup var options: ConfigOption

    @Argument(help: "The notification id (msg_...).")
    var id: String?

    @Flag(help: "Requeue every dead notification.")
    var dead = false

    @Flag(help: "Requeue without reading the tickets: also those whose ticket is closed, whose rule or destination is gone, or that a newer notification replaced.")
    var force = false

    func validate() throws {
        guard (id != nil) != dead else { throw ValidationError("give either a notification id or --dead") }
    }

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false, stateFolderMayBeMissing: true)
        if try !stateDatabaseExists(config) {
            try refuseIfGoneUnderADeliverer(config)
            guard dead else {
                printError("no dead notification has the id \(id ?? ""): there is no state database yet at \(config.store.stateDatabase)")
                throw ExitCode(1)
            }
            print("requeued 0 dead notification(s): there is no state database yet at \(config.store.stateDatabase)")
            return
        }
        let stores = try OpenState(config)
        do {
            let now = Date()
            let candidates = try stores.outbox.deadNotifications(id: id)
            if let id, candidates.isEmpty {
                printError(Self.notRequeued(id, try stores.outbox.notification(id: id), config: config))
                throw ExitCode(1)
            }
            let review = force ? RequeueReview(requeue: candidates) : try Self.review(candidates, config: config, now: now)
            let rowids = review.requeue.map(\.rowid)
            var kept = review.kept
            let count: Int
            if force {
                count = try stores.outbox.requeue(rowids: rowids, now: now)
            } else {
                // Those superseded between the weighing and the requeue (the daemon queued a newer one) stay dead.
                let requeued = try stores.outbox.requeueUnlessSuperseded(rowids: rowids, now: now)
                count = requeued.count
                kept += requeued.supersededMeanwhile.compactMap { late in late.supersededBy.map { (late, .superseded(by: $0)) } }
            }
            if let id {
                if let (notification, reason) = kept.first {
                    printError("\(id) (\(Self.describe(notification))) is left dead: \(reason.text); `overdued queue retry --force \(id)` requeues it anyway")
                    throw ExitCode(1)
                }
                guard count > 0 else {
                    printError(Self.notRequeued(id, try stores.outbox.notification(id: id), config: config))
                    throw ExitCode(1)
                }
                print("requeued \(id)")
            } else {
                print("requeued \(count) dead notification(s)")
                if !kept.isEmpty {
                    print("left \(kept.count) dead (`--force` requeues them too):")
                    for (notification, reason) in kept.prefix(Self.listed) {
                        print("  \(notification.id) (\(Self.describe(notification))): \(reason.text)")
                    }
                    if kept.count > Self.listed {
                        print("  … and \(kept.count - Self.listed) more (still dead: `overdued queue` lists them, and `queue retry ID` says why for one)")
                    }
                }
            }
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// The notifications left dead that are listed one by one.
    static let listed = 20

    static func describe(_ notification: Outbox.Dead) -> String {
        "\(PrintableText.escaped(notification.ticketID)), rule \(notification.rule), for \(notification.destination)"
    }

    /// Weighs the dead notifications against the config and the tickets now. When the tickets
    /// database cannot be read (missing, or locked by the app past busy_timeout), nothing is
    /// requeued and the command exits 1: requeueing unweighed is what `--force` does, and
    /// doing it silently would resend the alerts of every ticket closed meanwhile.
    static func review(_ candidates: [Outbox.Dead], config: Config, now: Date) throws -> RequeueReview {
        let engine = RulesEngine(config: config)
        var tickets: Result<TicketsDatabase, StoreError>?
        let review = RequeueReview.review(candidates, rules: config.rules, destinations: Set(config.destinations.map(\.name))) { rule, ids in
            let opened = tickets ?? Result { () throws(StoreError) in
                try TicketsDatabase(path: config.store.ticketsDatabase, busyTimeout: config.store.busyTimeout)
            }
            tickets = opened
            guard case .success(let database) = opened else { return nil }
            do throws(StoreError) {
                return try engine.standing(ids, rule: rule, tickets: database, now: now)
            } catch {
                tickets = .failure(error)
                return nil
            }
        }
        if review.unweighed > 0, case .failure(let error)? = tickets {
            printError("cannot read the tickets database: \(error.description); nothing requeued: the dead notifications cannot be "
                + "weighed against their tickets. Try again (a lock held by the app passes), or requeue without weighing with --force")
            throw ExitCode(1)
        }
        return review
    }

    /// Why `queue retry ID` requeued nothing: no notification has that id, or it is not dead.
    static func notRequeued(_ id: String, _ found: OverdueNotification?, config: Config) -> String {
        guard let found else { return "no notification has the id \(id) (see `overdued queue`)" }
        let only = "only dead notifications are requeued (see `overdued queue`)"
        switch found.status {
        case .pending, .retrying:
            let next = NotificationTable.onHold(found, config) ?? "next attempt at \(NotificationTable.iso(found.nextAttemptAt))"
            return "\(id) is \(found.status.rawValue), \(next); \(only)"
        case .delivered:
            return "\(id) was delivered at \(NotificationTable.iso(found.deliveredAt ?? found.createdAt)); \(only)"
        case .dead:
            return "\(id) became dead while this command ran; run it again"
        case .withdrawn:
            return "\(id) was withdrawn at \(NotificationTable.iso(found.withdrawnAt ?? found.createdAt)) (\(found.lastError ?? "its ticket no longer matched its rule")); \(only)"
        }
    }
}
