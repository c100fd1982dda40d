import ArgumentParser
import Foundation
import Notifier
import OverduedConfig
import Scheduler
import Store
import TextEscaping

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
        let stores = try OpenStateDatabase(config)
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
