import ArgumentParser
import Foundation
import OverduedConfig
import Store

/// `overdued queue`: what is waiting (pending, retrying) and what was given up (dead);
/// `overdued queue retry` puts dead notifications back.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show pending, retrying and dead notifications; requeue dead ones.",
        subcommands: [QueueListCommand.self, QueueRetryCommand.self],
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
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false)
        if noStateDatabaseYet(config, json: json) { return }
        let stores = try OpenState(config)
        do {
            let items = try stores.outbox.notifications(in: [.pending, .retrying, .dead], limit: limit)
            let counts = try stores.outbox.counts()
            if !json {
                print("pending \(counts.pending), retrying \(counts.retrying), dead \(counts.dead), delivered \(counts.delivered), withdrawn \(counts.withdrawn)")
            }
            try NotificationTable.print(items, config: config, outbox: stores.outbox, json: json, withAttempts: false)
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

struct QueueRetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Requeue a dead notification (ID), or all of them (--dead), with a fresh retry budget.")

    @OptionGroup var options: ConfigOption

    @Argument(help: "The notification id (msg_...).")
    var id: String?

    @Flag(help: "Requeue every dead notification.")
    var dead = false

    func validate() throws {
        guard (id != nil) != dead else { throw ValidationError("give either a notification id or --dead") }
    }

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false)
        if !FileManager.default.fileExists(atPath: config.store.stateDatabase) {
            guard dead else {
                printError("no dead notification has the id \(id ?? ""): there is no state database yet at \(config.store.stateDatabase)")
                throw ExitCode(1)
            }
            print("requeued 0 dead notification(s): there is no state database yet at \(config.store.stateDatabase)")
            return
        }
        let stores = try OpenState(config)
        do {
            if dead {
                let count = try stores.outbox.requeueAllDead(now: Date())
                print("requeued \(count) dead notification(s)")
            } else if let id {
                guard try stores.outbox.requeue(id: id, now: Date()) else {
                    printError(Self.notRequeued(id, try stores.outbox.notification(id: id), config: config))
                    throw ExitCode(1)
                }
                print("requeued \(id)")
            }
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
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
