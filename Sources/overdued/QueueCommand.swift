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
        let stores = try OpenStateDatabase(config, lookingOnly: true)
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
