import ArgumentParser
import Daemon
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler

/// `overdued once`: one tick, then deliver what is due (respecting rate limits and retries
/// that fall due within `--max-wait`), then exit. For cron-style use and tests. Exits 0 when
/// everything due was delivered or has a retry scheduled, 1 on a fatal error (config, stores,
/// the state database failing), 2 when notifications were given up (dead) during the run.
struct OnceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "once",
        abstract: "Run one tick and drain the queue, then exit."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: ArgumentHelp("Evaluate the rules as if it were this instant (ISO 8601 with its zone, e.g. 2026-11-24T15:00:00Z).", valueName: "instant"), transform: Instant.parse)
    var now: Instant?

    // `.unconditional`: `--max-wait -1s` is a value to refuse with its reason, not a missing
    // one. A value that is no duration is a usage error (64), as every other argument's.
    @Option(parsing: .unconditional, help: ArgumentHelp("Wait at most this long for deliveries and retries (e.g. 60s, 2m; default 60s).", valueName: "duration"),
            transform: { (text: String) throws -> Duration in
                do {
                    return try DurationText.parse(text)
                } catch let error as DurationText.ParseError {
                    throw ValidationError(error.message)
                }
            })
    var maxWait: Duration = .seconds(60)

    func run() async throws {
        let wait = maxWait
        let clock = try Instant.toEnqueueAt(now)
        let config = try loadConfig(options)
        let instant = config.schedule.evaluationInstant(clock, byClock: now == nil)
        LogSetup.bootstrap(config.log, forceStderr: true)
        let logger = Logger(label: "overdued")
        OpenFilesLimit.raise(for: config, logger: logger)
        let stores = try OpenStores(config, delivering: true)
        defer { withExtendedLifetime(stores) {} }
        let engine = RulesEngine(config: config)
        let report: ScanReport
        do {
            // The queue is weighed against the tickets only at the real clock (`scan`).
            report = try engine.scanAndEnqueue(tickets: stores.tickets, outbox: stores.outbox, now: instant, withdrawing: now == nil)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        for bad in report.badRows { ScanLog.badRow(bad, to: logger) }
        ScanLog.matchesAndEnqueued(report, to: logger)
        logger.info("tick: \(report.matches.count) matches, \(report.enqueuedCount) enqueued", metadata: ["event": "tick"])
        let notifier = Notifier(outbox: stores.outbox, destinations: config.destinations,
                                userAgentVersion: Overdued.version, logger: logger)
        let result = await notifier.drain(until: Date().addingTimeInterval(wait.seconds))
        await notifier.shutdown(grace: .seconds(5))
        // As the daemon does once an hour (a cron job of `once` is the daemon's whole life).
        HistoryPruning.prune(stores.outbox, retention: config.store.historyRetention, now: Date(), logger: logger)
        let withdrawn = report.withdrawals.isEmpty ? "" : ", \(report.withdrawals.count) withdrawn"
        print("\(report.matches.count) matches, \(report.enqueuedCount) enqueued\(withdrawn); \(result.delivered) delivered, \(result.dead) dead, \(result.retrying) still queued (\(result.attempts) attempts)")
        if result.dueLeft > 0 {
            var paused = result.pausedByReceiver.isEmpty ? ""
                : "; \(result.pausedByReceiver.joined(separator: ", ")) asked to wait (Retry-After) past the end of this run"
            if !result.pausedForCrashes.isEmpty {
                paused += "; \(result.pausedForCrashes.joined(separator: ", ")) wait\(result.pausedForCrashes.count == 1 ? "s" : "") past the end "
                    + "of this run because \(result.pausedForCrashes.count == 1 ? "its" : "their") answers crashed overdued "
                    + "(`overdued queue` says until when; `overdued queue resume NAME` ends it)"
            }
            printError("\(result.dueLeft) notification(s) were due but not started within --max-wait \(DurationText.format(maxWait)); they stay queued for the next run (a destination sends one per min_interval: raise --max-wait, or run the daemon)\(paused)")
        }
        if let recoveryError = result.recoveryError {
            printError("nothing was sent: the attempts an earlier overdued process did not live to record could not be recorded in \(config.store.stateDatabase) (\(recoveryError)); they are tried again by the next run")
        }
        if let queueError = result.queueError {
            printError("the queue could not be read: \(queueError)")
        }
        if result.unrecorded > 0 {
            printError("\(result.unrecorded) delivery attempt(s) could not be recorded in \(config.store.stateDatabase); those notifications stay queued and go again (same webhook-id)")
        }
        if result.stateDatabaseFailed { throw ExitCode(1) }
        if result.dead > 0 {
            printError("\(result.dead) notification(s) were given up (dead) by this run; see `overdued queue`, and `overdued queue retry` once the cause is fixed")
            throw ExitCode(Self.someGivenUp)
        }
    }

    /// The exit status when the run ended without a fatal error but gave notifications up:
    /// neither "all delivered or retry scheduled" (0) nor a failure of overdued itself (1),
    /// and something a cron job should not pass over in silence.
    static let someGivenUp: Int32 = 2
}
